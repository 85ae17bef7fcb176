import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse, CsvError } from '../src/index.js';

test('parse splits rows and fields', () => {
  assert.deepEqual(parse('a,b,c\n1,2,3\n'), [
    ['a', 'b', 'c'],
    ['1', '2', '3'],
  ]);
});

test('parse accepts a last line without a newline', () => {
  assert.deepEqual(parse('a,b\nc,d'), [
    ['a', 'b'],
    ['c', 'd'],
  ]);
});

test('parse handles quoted fields with delimiters, quotes and newlines', () => {
  assert.deepEqual(parse('"x,y","say ""hi""","two\nlines"\n'), [['x,y', 'say "hi"', 'two\nlines']]);
});

test('parse keeps empty fields in the middle of a row', () => {
  assert.deepEqual(parse('a,,c\n'), [['a', '', 'c']]);
});

test('parse skips blank lines by default', () => {
  assert.deepEqual(parse('a\n\nb\n'), [['a'], ['b']]);
  assert.deepEqual(parse('a\n\nb\n', { skipEmpty: false }), [['a'], [''], ['b']]);
});

test('parse supports another delimiter', () => {
  assert.deepEqual(parse('a;b\n1;2\n', { delimiter: ';' }), [
    ['a', 'b'],
    ['1', '2'],
  ]);
});

test('parse with header returns records', () => {
  assert.deepEqual(parse('name,qty\nwidget,3\ngadget\n', { header: true }), [
    { name: 'widget', qty: '3' },
    { name: 'gadget', qty: '' },
  ]);
});

test('parse with typed converts values', () => {
  assert.deepEqual(parse('id,price,active\n1,9.99,true\n', { header: true, typed: true }), [
    { id: 1, price: 9.99, active: true },
  ]);
});

test('parse reports an unterminated quote with its line', () => {
  assert.throws(
    () => parse('a,b\n"oops,c\n'),
    (error) => error instanceof CsvError && error.line === 3,
  );
});

test('parse rejects an invalid delimiter', () => {
  assert.throws(() => parse('a', { delimiter: '"' }), TypeError);
});
