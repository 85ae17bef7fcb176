import { test } from 'node:test';
import assert from 'node:assert/strict';
import { truncate } from '../src/index.js';

test('truncate leaves short strings alone', () => {
  assert.equal(truncate('short', 10), 'short');
  assert.equal(truncate('exactly10!', 10), 'exactly10!');
});

test('truncate can cut at a word boundary', () => {
  assert.equal(truncate('The quick brown fox', 12, { wordBoundary: true }), 'The quick…');
});

test('truncate returns part of the omission when length is tiny', () => {
  assert.equal(truncate('abcdef', 2, { omission: '...' }), '..');
});

test('truncate rejects a negative length', () => {
  assert.throws(() => truncate('abc', -1), RangeError);
});
