/** Format id → reader module, imported lazily so a format's dependencies load only when it is scanned. */
import { ScanError } from '../errors.js';
import type { ReaderModule, SourceFormat } from './types.js';

const LOADERS: Record<SourceFormat, (() => Promise<ReaderModule>) | undefined> = {
  lmdb: async () => (await import('./lmdb/index.js')).lmdbReader,
  leveldb: async () => (await import('./leveldb/index.js')).leveldbReader,
  hdf5: async () => (await import('./hdf5/index.js')).hdf5Reader,
  'image-folder': async () => (await import('./image-folder.js')).imageFolderReader,
  'image-list': async () => (await import('./image-list.js')).imageListReader,
  npy: async () => (await import('./npy/index.js')).npyReader,
  webdataset: async () => (await import('./webdataset/index.js')).webdatasetReader,
  tfrecord: async () => (await import('./tfrecord/index.js')).tfrecordReader,
  parquet: async () => (await import('./parquet/index.js')).parquetReader,
  arrow: async () => (await import('./arrow/index.js')).arrowReader,
};

export async function loadReader(format: SourceFormat): Promise<ReaderModule> {
  const load = LOADERS[format];
  if (load === undefined) throw new ScanError('SCAN_SOURCE_UNRECOGNISED', `No reader for format '${format}' yet.`);
  return load();
}
