/**
 * Escaping for XML and HTML output. Report strings are untrusted data: record keys are arbitrary bytes shown as
 * UTF-8 (control characters included), file names are whatever the file system holds.
 */

/**
 * Characters XML 1.0 forbids (C0 controls but tab, LF and CR; lone surrogates; U+FFFE and U+FFFF), plus C1
 * controls and DEL, which XML allows but which are invisible garbage in a report or a terminal.
 */
const UNPRINTABLE = /[^\t\n\r\x20-\x7E\xA0-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

/**
 * Replaces every character XML 1.0 cannot hold (and C1 controls) with a visible `\uXXXX` escape, so that a key
 * such as "a\u0000b" stays distinguishable from "ab" instead of being silently dropped.
 */
export function printable(s: string): string {
  return s.replace(UNPRINTABLE, (ch) => `\\u${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`);
}

/** Whether `s` holds only characters that XML 1.0 (and so `printable`) lets through unchanged. */
export function isPrintable(s: string): boolean {
  UNPRINTABLE.lastIndex = 0;
  const bad = UNPRINTABLE.test(s);
  UNPRINTABLE.lastIndex = 0;
  return !bad;
}

/** Text content of an XML element. CR is written as a reference, since parsers turn a literal CR into LF. */
export function xmlText(s: string): string {
  return printable(s).replace(/[&<>\r]/g, (ch) => XML_ENTITIES[ch]!);
}

/** An XML attribute value (for double quotes). Tab, LF and CR are references, or parsers would turn them into spaces. */
export function xmlAttr(s: string): string {
  return printable(s).replace(/[&<>"'\t\n\r]/g, (ch) => XML_ENTITIES[ch]!);
}

/** HTML text or a double-quoted attribute value. */
export function escapeHtml(s: string): string {
  return printable(s).replace(/[&<>"']/g, (ch) => XML_ENTITIES[ch]!);
}

const XML_ENTITIES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '\t': '&#9;',
  '\n': '&#10;',
  '\r': '&#13;',
};
