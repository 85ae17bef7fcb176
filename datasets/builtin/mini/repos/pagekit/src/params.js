/**
 * Reads pagination parameters from a parsed query string (e.g. `req.query` or
 * `Object.fromEntries(url.searchParams)`).
 *
 * @param {Record<string, string | string[] | undefined> | null | undefined} query
 * @param {{ defaultPerPage?: number, maxPerPage?: number }} [options]
 * @returns {{ page: number, perPage: number, offset: number }}
 */
export function parsePageParams(query, options = {}) {
  const { defaultPerPage = 20, maxPerPage = 100 } = options;
  const params = query ?? {};

  const page = Math.max(1, readInt(params.page) ?? 1);
  const requested = readInt(params.per_page) ?? defaultPerPage;
  const perPage = clamp(requested, 1, maxPerPage);

  return { page, perPage, offset: (page - 1) * perPage };
}

function readInt(value) {
  const raw = Array.isArray(value) ? value[0] : value;
  if (raw === undefined || raw === null || String(raw).trim() === '') {
    return undefined;
  }
  const number = Number(raw);
  return Number.isInteger(number) ? number : undefined;
}

function clamp(value, min, max) {
  return Math.min(max, Math.max(min, value));
}
