import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePageParams } from '../src/index.js';

test('parsePageParams uses defaults for an empty query', () => {
  assert.deepEqual(parsePageParams({}), { page: 1, perPage: 20, offset: 0 });
  assert.deepEqual(parsePageParams(undefined), { page: 1, perPage: 20, offset: 0 });
});

test('parsePageParams reads page and per_page strings', () => {
  assert.deepEqual(parsePageParams({ page: '3', per_page: '10' }), { page: 3, perPage: 10, offset: 20 });
});

test('parsePageParams caps per_page at maxPerPage', () => {
  assert.equal(parsePageParams({ per_page: '500' }).perPage, 100);
  assert.equal(parsePageParams({ per_page: '500' }, { maxPerPage: 50 }).perPage, 50);
});

test('parsePageParams ignores garbage', () => {
  assert.deepEqual(parsePageParams({ page: 'abc', per_page: '2.5' }), { page: 1, perPage: 20, offset: 0 });
});

test('parsePageParams takes the first of repeated parameters', () => {
  assert.equal(parsePageParams({ page: ['2', '9'] }).page, 2);
});
