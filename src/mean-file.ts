/**
 * The mean file: the per-pixel mean of a dataset's records (C×H×W, float32), encoded as Caffe's `BlobProto`
 * (what `compute_image_mean` writes and `DataTransformer` loads as `mean_file`) or as a NumPy `.npy` array.
 * Pure encoders; writing the bytes is the caller's.
 *
 *   message BlobProto { optional int32 num = 1; optional int32 channels = 2; optional int32 height = 3;
 *                       optional int32 width = 4; repeated float data = 5 [packed = true]; … }
 */

function varint(n: number, out: number[]): void {
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
}

/** A BlobProto with num = 1, as compute_image_mean writes it (legacy num/channels/height/width, packed data). */
export function encodeBlobProto(mean: Float32Array, channels: number, height: number, width: number): Uint8Array {
  if (channels * height * width !== mean.length) throw new RangeError(`${channels}×${height}×${width} is not ${mean.length} values`);
  const head: number[] = [];
  for (const [field, v] of [[1, 1], [2, channels], [3, height], [4, width]] as const) {
    head.push(field << 3);
    varint(v, head);
  }
  head.push((5 << 3) | 2);
  varint(mean.byteLength, head);
  const out = new Uint8Array(head.length + mean.byteLength);
  out.set(head);
  const view = new DataView(out.buffer, head.length);
  for (let i = 0; i < mean.length; i++) view.setFloat32(4 * i, mean[i]!, true);
  return out;
}

/** A NumPy .npy file (format 1.0) holding `data` as little-endian float32 of `shape`, C order. */
export function encodeNpy(data: Float32Array, shape: readonly number[]): Uint8Array {
  const dims = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${dims}, }`;
  // Magic (6) + version (2) + header length (2) + header, padded with spaces to a multiple of 64, ending in \n.
  const unpadded = 10 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  const view = new DataView(out.buffer, 10 + header.length);
  for (let i = 0; i < data.length; i++) view.setFloat32(4 * i, data[i]!, true);
  return out;
}
