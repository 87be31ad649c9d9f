/**
 * Seeded random numbers whose state can be saved and restored, so that a
 * run (data order, crops, flips, the image pool) repeats exactly and a
 * resumed run continues the same sequence. Built on seedrandom's ARC4.
 */
import seedrandom from 'seedrandom';

/** Serialisable generator state (seedrandom's ARC4 state). */
export type RngState = seedrandom.State.Arc4;

/** A seeded generator of uniform numbers in [0, 1). */
export class Rng {
  private prng: seedrandom.StatefulPRNG<seedrandom.State.Arc4>;

  /** Starts from `seed`, or continues from a saved `state`. */
  constructor(seed: string | number, state?: RngState) {
    this.prng = state
      ? seedrandom('', { state })
      : seedrandom(String(seed), { state: true });
  }

  /** A uniform float in [0, 1). */
  next(): number {
    return this.prng();
  }

  /** A uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.prng() * n);
  }

  /** A Fisher-Yates shuffled copy of `items`. */
  shuffle<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [out[i], out[j]] = [out[j], out[i]];
    }
    return out;
  }

  /** The state to save in a checkpoint. */
  state(): RngState {
    return this.prng.state();
  }
}
