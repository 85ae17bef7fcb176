export { pageCount, paginate, pageWindow } from './paginate.js';
export { parsePageParams } from './params.js';
export { encodeCursor, decodeCursor, InvalidCursorError } from './cursor.js';
export { contentRange } from './range.js';
