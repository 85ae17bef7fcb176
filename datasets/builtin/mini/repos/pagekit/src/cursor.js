export class InvalidCursorError extends Error {
  constructor(cursor) {
    super(`invalid pagination cursor: ${JSON.stringify(cursor)}`);
    this.name = 'InvalidCursorError';
  }
}

/**
 * Encodes a JSON-serialisable value (usually the sort key of the last item on a page) as an
 * opaque, URL-safe cursor.
 *
 * @param {unknown} value
 * @returns {string}
 */
export function encodeCursor(value) {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

/**
 * Decodes a cursor made by `encodeCursor`. A missing or empty cursor means "first page" and
 * yields `null`.
 *
 * @param {string | null | undefined} cursor
 * @returns {unknown}
 */
export function decodeCursor(cursor) {
  if (cursor === undefined || cursor === null || cursor === '') {
    return null;
  }
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) {
    throw new InvalidCursorError(cursor);
  }
  try {
    return JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidCursorError(cursor);
  }
}
