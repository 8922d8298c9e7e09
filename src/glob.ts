/**
 * The include/exclude globs: `**` any number of folders, `*` and `?` within one name, `[abc]`, `[a-z]` and
 * `[!abc]` one character of a set, `{a,b}` alternatives. Matched against '/'-separated display paths.
 * (node:path's matchesGlob is still experimental in Node 20 and warns on use.)
 */
import { ScanError } from './errors.js';

/**
 * A glob as a RegExp.
 * @throws ScanError `SCAN_INVALID_OPTION` for a malformed glob (an unbalanced `{`, `}`, `[` or `]`), naming
 * the glob and the place: a pattern that can match nothing must not pass silently.
 */
export function globToRegExp(glob: string, name = 'glob'): RegExp {
  const bad = (what: string): never => {
    throw new ScanError('SCAN_INVALID_OPTION', `Malformed glob '${glob}' in ${name}: ${what}.`);
  };
  let re = '';
  let depth = 0;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      const slash = glob[i + 2] === '/';
      re += slash ? '(?:.*/)?' : '.*';
      i += slash ? 2 : 1;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      // A set: ']' right after '[' or '[!' is a member, as in POSIX shells.
      let j = i + 1;
      const negate = glob[j] === '!' || glob[j] === '^';
      if (negate) j++;
      const start = j;
      if (glob[j] === ']') j++;
      while (j < glob.length && glob[j] !== ']') j++;
      if (j >= glob.length) bad(`the '[' at position ${i + 1} is never closed`);
      const members = glob.slice(start, j).replace(/[\\\]^[]/g, '\\$&');
      re += `(?!/)[${negate ? '^' : ''}${members}]`;
      i = j;
    } else if (c === ']') bad(`the ']' at position ${i + 1} closes no '['`);
    else if (c === '{') { depth++; re += '(?:'; }
    else if (c === '}') {
      if (depth === 0) bad(`the '}' at position ${i + 1} closes no '{'`);
      depth--;
      re += ')';
    } else if (c === ',' && depth > 0) re += '|';
    else re += c.replace(/[.+^$()|\\]/g, '\\$&');
  }
  if (depth > 0) bad(`${depth === 1 ? 'a' : depth} '{' ${depth === 1 ? 'is' : 'are'} never closed`);
  return new RegExp(`^${re}$`);
}
