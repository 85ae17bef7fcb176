import { test } from 'node:test';
import assert from 'node:assert/strict';
import { uniqueSlugs } from '../src/index.js';

test('uniqueSlugs numbers repeated titles', () => {
  assert.deepEqual(uniqueSlugs(['Intro', 'Setup', 'Intro', 'Intro']), ['intro', 'setup', 'intro-2', 'intro-3']);
});

test('uniqueSlugs leaves distinct titles alone', () => {
  assert.deepEqual(uniqueSlugs(['Hello, World!', 'Hello World 2']), ['hello-world', 'hello-world-2']);
  assert.deepEqual(uniqueSlugs([]), []);
});

test('uniqueSlugs passes the options to slugify', () => {
  assert.deepEqual(uniqueSlugs(['Read Me', 'read me'], { separator: '_' }), ['read_me', 'read_me_2']);
  assert.deepEqual(uniqueSlugs(['API', 'api'], { lowercase: false }), ['API', 'api']);
});
