/**
 * Counts as people read them: 1,234,567. Written out because the first `toLocaleString` of a process loads ICU's
 * locale data (~20 ms of a ~300 ms small scan, measured with --cpu-prof), and every report prints counts.
 */
export function formatCount(n: number): string {
  if (!Number.isSafeInteger(n)) return n.toLocaleString('en-US');
  const digits = String(Math.abs(n));
  let out = '';
  for (let end = digits.length; end > 0; end -= 3) out = (end > 3 ? ',' : '') + digits.slice(Math.max(0, end - 3), end) + out;
  return n < 0 || Object.is(n, -0) ? `-${out}` : out;
}
