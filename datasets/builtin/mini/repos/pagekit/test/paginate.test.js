import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pageCount, paginate, pageWindow } from '../src/index.js';

const range = (n) => Array.from({ length: n }, (_, i) => i + 1);

test('pageCount of an exact multiple', () => {
  assert.equal(pageCount(40, 20), 2);
  assert.equal(pageCount(0, 20), 0);
});

test('pageCount rejects a zero page size', () => {
  assert.throws(() => pageCount(10, 0), RangeError);
});

test('paginate returns the first page by default', () => {
  const result = paginate(range(50));
  assert.deepEqual(result.items, range(20));
  assert.equal(result.page, 1);
  assert.equal(result.perPage, 20);
  assert.equal(result.total, 50);
  assert.equal(result.hasPrev, false);
  assert.equal(result.hasNext, true);
});

test('paginate returns a middle page', () => {
  const result = paginate(range(30), { page: 2, perPage: 10 });
  assert.deepEqual(result.items, [11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
  assert.equal(result.totalPages, 3);
  assert.equal(result.hasPrev, true);
  assert.equal(result.hasNext, true);
});

test('paginate past the end returns no items', () => {
  assert.deepEqual(paginate(range(5), { page: 4, perPage: 5 }).items, []);
});

test('paginate rejects page 0', () => {
  assert.throws(() => paginate(range(5), { page: 0 }), RangeError);
});

test('pageWindow centres on the current page', () => {
  assert.deepEqual(pageWindow(7, 20), [5, 6, 7, 8, 9]);
});

test('pageWindow sticks to the first pages at the start', () => {
  assert.deepEqual(pageWindow(1, 20), [1, 2, 3, 4, 5]);
  assert.deepEqual(pageWindow(2, 20), [1, 2, 3, 4, 5]);
});

test('pageWindow with fewer pages than the window size', () => {
  assert.deepEqual(pageWindow(1, 1), [1]);
  assert.deepEqual(pageWindow(1, 0), []);
});
