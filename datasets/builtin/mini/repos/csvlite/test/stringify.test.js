import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stringify, parse } from '../src/index.js';

test('stringify joins plain fields', () => {
  assert.equal(
    stringify([
      ['a', 'b'],
      [1, 2],
    ]),
    'a,b\n1,2\n',
  );
});

test('stringify quotes fields that contain the delimiter or a newline', () => {
  assert.equal(stringify([['a,b', 'c\nd']]), '"a,b","c\nd"\n');
});

test('stringify doubles a quote inside a field', () => {
  assert.equal(stringify([['say "hi']]), '"say ""hi"\n');
});

test('stringify quotes fields with surrounding spaces', () => {
  assert.equal(stringify([[' padded ']]), '" padded "\n');
});

test('stringify writes null and undefined as empty fields', () => {
  assert.equal(stringify([[null, undefined, 0]]), ',,0\n');
});

test('stringify supports a custom line ending', () => {
  assert.equal(stringify([['a'], ['b']], { eol: '\r\n' }), 'a\r\nb\r\n');
});

test('stringify output parses back to the same rows', () => {
  const rows = [
    ['id', 'note'],
    ['1', 'comma, inside'],
    ['2', 'multi\nline'],
  ];
  assert.deepEqual(parse(stringify(rows)), rows);
});
