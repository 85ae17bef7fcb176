import { test } from 'node:test';
import assert from 'node:assert/strict';
import { slugify } from '../src/index.js';

test('slugify lowercases and joins words with dashes', () => {
  assert.equal(slugify('Hello World'), 'hello-world');
});

test('slugify collapses runs of punctuation and spaces', () => {
  assert.equal(slugify('foo  --  bar__baz'), 'foo-bar-baz');
});

test('slugify drops leading punctuation', () => {
  assert.equal(slugify('...and then'), 'and-then');
});

test('slugify supports a custom separator', () => {
  assert.equal(slugify('Release notes 2.0', { separator: '_' }), 'release_notes_2_0');
});

test('slugify can keep the original case', () => {
  assert.equal(slugify('Node JS', { lowercase: false }), 'Node-JS');
});

test('slugify honours maxLength without a dangling separator', () => {
  assert.equal(slugify('one two three four', { maxLength: 8 }), 'one-two');
});

test('slugify rejects non-string input', () => {
  assert.throws(() => slugify(42), TypeError);
});
