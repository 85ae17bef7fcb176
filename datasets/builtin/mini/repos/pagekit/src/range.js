// Builds a `Content-Range`-style value for an offset page, e.g. `items 0-19/42`.
// A page past the end has no range and is written as `items */42`.
//
// page: 1-based page number; perPage: items per page; total: number of items.
export function contentRange(page, perPage, total) {
  const start = (page - 1) * perPage;
  if (start >= total) {
    return `items */${total}`;
  }
  const end = Math.min(start + perPage, total) - 1;
  return `items ${start}-${end}/${total}`;
}
