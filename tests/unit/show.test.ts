import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sourceOf, methodSourceOf } from '../../lib/show';

test('sourceOf returns a whole declaration with its JSDoc', () => {
  const src = sourceOf('lib/profiles.ts', 'getProfile');
  const lines = src.split('\n');
  assert.equal(lines[0], '/** The profile named by `name`, else ' +
    '`CYCLEGAN_PROFILE`, else `emoji`. */');
  assert.match(lines[1], /^export function getProfile\(/);
  assert.equal(lines[lines.length - 1], '}');
});

test('sourceOf names the file when the declaration is missing', () => {
  assert.throws(() => sourceOf('lib/profiles.ts', 'noSuchThing'),
    /no top-level 'noSuchThing' in lib\/profiles.ts/);
});

test('methodSourceOf returns one method of a class, JSDoc included', () => {
  const src = methodSourceOf('lib/rng.ts', 'Rng', 'int');
  assert.deepEqual(src.split('\n'), [
    '  /** A uniform integer in [0, n). */',
    '  int(n: number): number {',
    '    return Math.floor(this.prng() * n);',
    '  }',
  ]);
  assert.throws(() => methodSourceOf('lib/rng.ts', 'Rng', 'nope'),
    /no method 'nope' in class Rng of lib\/rng.ts/);
});
