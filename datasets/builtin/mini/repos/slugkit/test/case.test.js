import { test } from 'node:test';
import assert from 'node:assert/strict';
import { words, camelCase, pascalCase, kebabCase, snakeCase, capitalize } from '../src/index.js';

test('words splits on spaces, punctuation and camel humps', () => {
  assert.deepEqual(words('fooBar baz-qux_quux'), ['foo', 'Bar', 'baz', 'qux', 'quux']);
});

test('words keeps digits attached to the preceding word', () => {
  assert.deepEqual(words('v2Api'), ['v2', 'Api']);
});

test('words of null or undefined is empty', () => {
  assert.deepEqual(words(null), []);
  assert.deepEqual(words(undefined), []);
});

test('camelCase converts snake and kebab case', () => {
  assert.equal(camelCase('user_id'), 'userId');
  assert.equal(camelCase('created-at'), 'createdAt');
});

test('pascalCase capitalises every word', () => {
  assert.equal(pascalCase('hello big world'), 'HelloBigWorld');
});

test('kebabCase and snakeCase lowercase every word', () => {
  assert.equal(kebabCase('backgroundColor'), 'background-color');
  assert.equal(snakeCase('Background Color'), 'background_color');
});

test('capitalize handles empty strings', () => {
  assert.equal(capitalize(''), '');
  assert.equal(capitalize('wORLD'), 'World');
});
