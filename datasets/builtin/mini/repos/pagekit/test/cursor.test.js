import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeCursor, decodeCursor, InvalidCursorError } from '../src/index.js';

test('cursors round-trip', () => {
  const value = { id: 42, createdAt: '2024-03-01T10:00:00Z' };
  assert.deepEqual(decodeCursor(encodeCursor(value)), value);
});

test('cursors are URL-safe', () => {
  const cursor = encodeCursor({ q: '???>>>' });
  assert.match(cursor, /^[A-Za-z0-9_-]+$/);
});

test('an empty cursor means the first page', () => {
  assert.equal(decodeCursor(''), null);
});

test('a malformed cursor is rejected', () => {
  assert.throws(() => decodeCursor('not a cursor!'), InvalidCursorError);
  assert.throws(() => decodeCursor('bm90IGpzb24'), InvalidCursorError);
});
