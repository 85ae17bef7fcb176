import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inferType } from '../src/index.js';

test('inferType converts numbers', () => {
  assert.equal(inferType('42'), 42);
  assert.equal(inferType('-3.5'), -3.5);
  assert.equal(inferType('1e3'), 1000);
  assert.equal(inferType('0'), 0);
});

test('inferType converts booleans case-insensitively', () => {
  assert.equal(inferType('true'), true);
  assert.equal(inferType('FALSE'), false);
});

test('inferType turns empty fields into null', () => {
  assert.equal(inferType(''), null);
  assert.equal(inferType('   '), null);
});

test('inferType leaves other text unchanged', () => {
  assert.equal(inferType('widget'), 'widget');
  assert.equal(inferType('12 apples'), '12 apples');
});
