import { test } from 'node:test';
import assert from 'node:assert/strict';
import { contentRange } from '../src/index.js';

test('contentRange of the first page', () => {
  assert.equal(contentRange(1, 20, 42), 'items 0-19/42');
});

test('contentRange of a page past the end', () => {
  assert.equal(contentRange(5, 20, 42), 'items */42');
});
