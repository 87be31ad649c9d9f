/**
 * The image history buffer of Sec. 4 (Shrivastava et al. 2017): the
 * discriminators are updated with a mix of the newest generated images and
 * older ones, which damps oscillation. Semantics follow the official
 * `ImagePool` (`--pool_size`, default 50).
 */
import * as tf from '@tensorflow/tfjs';
import { Rng, RngState } from './rng';

/** What a checkpoint stores for a pool: its images and its generator. */
export interface ImagePoolState {
  poolSize: number;
  /** Stored images, each [1, H, W, C]; owned by the pool. */
  images: tf.Tensor4D[];
  rng: RngState;
}

/**
 * A pool of up to `poolSize` generated images.
 *
 * `query` takes a batch [N, H, W, C] and returns a new batch of the same
 * shape, image by image:
 * - while fewer than `poolSize` images are stored, the image is stored
 *   and returned;
 * - once full, with probability ½ a uniformly chosen stored image is
 *   returned and the new one takes its place; otherwise the new image is
 *   returned and the pool is unchanged;
 * - `poolSize` 0 returns the input unchanged (as a new tensor handle).
 *
 * Stored images are kept out of any enclosing `tf.tidy` (`tf.keep`), so a
 * query made inside a training step's tidy does not free them; a replaced
 * image is disposed. Call `dispose()` when done with the pool.
 */
export class ImagePool {
  readonly poolSize: number;
  private images: tf.Tensor4D[] = [];
  private rng: Rng;

  /**
   * `rng` decides swaps and slots (seeded, so runs repeat); pass a saved
   * `ImagePoolState` to `ImagePool.restore` instead when resuming.
   */
  constructor(poolSize: number, rng: Rng) {
    if (!Number.isInteger(poolSize) || poolSize < 0) {
      throw new Error(`poolSize must be a whole number >= 0, got ${poolSize}`);
    }
    this.poolSize = poolSize;
    this.rng = rng;
  }

  /** Number of images stored so far (at most `poolSize`). */
  get size(): number {
    return this.images.length;
  }

  /** A batch mixing `images` with stored history; see the class doc. */
  query(images: tf.Tensor4D): tf.Tensor4D {
    if (this.poolSize === 0) return tf.clone(images);
    const n = images.shape[0];
    const out: tf.Tensor4D[] = [];
    const replaced: tf.Tensor4D[] = [];
    for (let i = 0; i < n; i++) {
      // slice gives a tensor of its own: safe to keep past the caller's
      // tidy and independent of `images` being disposed.
      const image = tf.slice(images, [i, 0, 0, 0], [1, -1, -1, -1]);
      if (this.images.length < this.poolSize) {
        this.images.push(tf.keep(image));
        out.push(image);
      } else if (this.rng.next() > 0.5) {
        const slot = this.rng.int(this.poolSize);
        out.push(this.images[slot]);
        replaced.push(this.images[slot]);
        this.images[slot] = tf.keep(image);
      } else {
        out.push(image);
      }
    }
    // concat copies, so the old images can go once it is built.
    const result = tf.concat(out, 0);
    for (const t of replaced) t.dispose();
    for (const t of out) {
      if (!this.images.includes(t) && !replaced.includes(t)) t.dispose();
    }
    return result;
  }

  /** The pool's contents and generator state, for a checkpoint. */
  state(): ImagePoolState {
    return {
      poolSize: this.poolSize, images: this.images.slice(),
      rng: this.rng.state(),
    };
  }

  /**
   * A pool continuing from `state` (a checkpoint's); the images are
   * copied, so the caller keeps ownership of `state.images`.
   */
  static restore(state: ImagePoolState): ImagePool {
    const pool = new ImagePool(state.poolSize, new Rng(0, state.rng));
    if (state.images.length > state.poolSize) {
      throw new Error(`pool state holds ${state.images.length} images, ` +
        `more than its poolSize ${state.poolSize}`);
    }
    pool.images = state.images.map((t) => tf.keep(tf.clone(t)));
    return pool;
  }

  /** Frees the stored images. */
  dispose(): void {
    for (const t of this.images) t.dispose();
    this.images = [];
  }
}
