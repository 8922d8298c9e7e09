import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { encodeDatum, rng } from '../../scripts/lib/caffe.js';
import { DatumDecoder, looksLikeDatum } from '../../src/decode/datum.js';

// caffe.proto's Datum, verbatim; protobufjs is the independent encoder/decoder we cross-check against.
const PROTO = `syntax = "proto2";
message Datum {
  optional int32 channels = 1; optional int32 height = 2; optional int32 width = 3;
  optional bytes data = 4; optional int32 label = 5; repeated float float_data = 6;
  optional bool encoded = 7 [default = false];
}`;
const Datum = protobuf.parse(PROTO).root.lookupType('Datum');

describe('DatumDecoder', () => {
  it('decodes what protobufjs encodes, for random Datums', () => {
    const next = rng(11);
    const dec = new DatumDecoder();
    for (let i = 0; i < 300; i++) {
      const n = Math.floor(next() * 40);
      const msg: Record<string, unknown> = {
        channels: Math.floor(next() * 4), height: Math.floor(next() * 300), width: Math.floor(next() * 300),
        label: Math.floor((next() - 0.3) * 2000),
      };
      if (next() < 0.5) msg.data = Uint8Array.from({ length: n }, () => Math.floor(next() * 256));
      else msg.floatData = Array.from({ length: n }, () => Math.fround((next() - 0.5) * 1e6));
      if (next() < 0.5) msg.encoded = next() < 0.5;
      const bytes = Datum.encode(Datum.fromObject(msg)).finish();
      const r = dec.decode(bytes);
      expect(r.ok).toBe(true);
      if (!r.ok) continue;
      const d = r.datum;
      expect([d.channels, d.height, d.width, d.label]).toEqual([msg.channels, msg.height, msg.width, msg.label]);
      expect(d.encoded).toBe(msg.encoded === true);
      if (msg.data) expect([...d.data!]).toEqual([...(msg.data as Uint8Array)]);
      if (msg.floatData && n > 0) expect([...d.floatData!]).toEqual(msg.floatData);
    }
  });

  it('encodes exactly as protobufjs does (so fixtures are real Caffe bytes)', () => {
    const spec = { channels: 3, height: 2, width: 1, data: Uint8Array.from([1, 2, 3, 4, 5, 6]), label: -7, encoded: false };
    expect([...encodeDatum(spec)]).toEqual([...Datum.encode(Datum.fromObject(spec)).finish()]);
    const floats = { channels: 1, height: 1, width: 3, label: 2, floatData: [1.5, -2, NaN] };
    const ours = Datum.decode(encodeDatum(floats)).toJSON();
    expect(ours).toEqual(Datum.decode(Datum.encode(Datum.fromObject(floats)).finish()).toJSON());
  });

  it('reads packed float_data as well as Caffe’s unpacked form', () => {
    const dec = new DatumDecoder();
    const values = [1, -0, Infinity, 3.25];
    for (const packed of [false, true]) {
      const r = dec.decode(encodeDatum({ channels: 1, height: 2, width: 2, floatData: values, packed }));
      expect(r.ok && [...r.datum.floatData!]).toEqual(values);
    }
  });

  it('skips unknown fields of every wire type', () => {
    const base = encodeDatum({ channels: 1, height: 1, width: 1, data: Uint8Array.from([9]), label: 4 });
    const extra = Uint8Array.from([0x48, 0x96, 0x01, 0x51, 1, 2, 3, 4, 5, 6, 7, 8, 0x5a, 2, 0xaa, 0xbb, 0x65, 1, 2, 3, 4]);
    const r = new DatumDecoder().decode(Uint8Array.from([...base, ...extra]));
    expect(r.ok && [r.datum.label, r.datum.data![0]]).toEqual([4, 9]);
  });

  it.each([
    ['a varint that runs off the end', [0x08, 0x81, 0x80], /varint runs past the end/],
    ['a varint longer than 10 bytes', [0x08, ...new Array(11).fill(0xff), 0x01], /longer than 10 bytes/],
    ['a length past the end', [0x22, 0x7f, 1, 2], /declares 127 bytes/],
    ['data as fixed32', [0x25, 1, 2, 3, 4], /field 4 has wire type fixed32/],
    ['float_data as varint', [0x30, 0x01], /float_data\) has wire type varint/],
    ['a truncated fixed32', [0x35, 1, 2], /runs past the end/],
    ['an invalid wire type', [0x0f, 0x00], /invalid wire type 7/],
    ['field number 0', [0x00, 0x01], /field number 0/],
    ['packed float_data of odd length', [0x32, 0x03, 1, 2, 3], /not a multiple of 4/],
  ])('rejects %s with the reason', (_name, bytes, reason) => {
    const r = new DatumDecoder().decode(Uint8Array.from(bytes));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });

  it('recognises Datum-looking values and not JSON or images', () => {
    expect(looksLikeDatum(encodeDatum({ channels: 1 }))).toBe(true);
    expect(looksLikeDatum(new TextEncoder().encode('{"a":1}'))).toBe(false);
    expect(looksLikeDatum(Uint8Array.from([0xff, 0xd8, 0xff]))).toBe(false);
    expect(looksLikeDatum(new Uint8Array(0))).toBe(false);
  });
});
