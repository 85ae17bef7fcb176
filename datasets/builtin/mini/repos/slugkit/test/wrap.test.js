import { test } from 'node:test';
import assert from 'node:assert/strict';
import { wordWrap } from '../src/index.js';

test('wordWrap breaks long text into lines', () => {
  assert.equal(wordWrap('the quick brown fox jumps', 10), 'the quick\nbrown fox\njumps');
});

test('wordWrap keeps a word longer than the width on its own line', () => {
  assert.equal(wordWrap('a incomprehensibilities b', 5), 'a\nincomprehensibilities\nb');
});

test('wordWrap keeps existing newlines', () => {
  assert.equal(wordWrap('one two\nthree', 20), 'one two\nthree');
});

test('wordWrap rejects a zero width', () => {
  assert.throws(() => wordWrap('abc', 0), RangeError);
});
