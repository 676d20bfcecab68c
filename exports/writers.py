"""Output formats. Each writer takes one record at a time and holds at most one Parquet row group, so an
export's memory does not grow with the number of rows.

An export writes one file per split (or one file when unsplit) into its folder. When that is more than
one file, or a Hugging Face datasets folder, the folder is packed into one .tar for download.
"""
import gzip
import shutil
import tarfile
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

# Rows per Parquet row group: large enough for good compression and fast scans, small enough that the
# buffered Python dicts stay well under the export's memory budget.
ROW_GROUP_ROWS = 10_000


class JsonlWriter:
    def __init__(self, path, compress=False):
        # Level 5 compresses nearly as well as gzip's default 9 at about twice the speed.
        self.file = gzip.open(path, "wb", compresslevel=5) if compress else open(path, "wb", buffering=1 << 20)

    def write_many(self, records):
        self.file.write(b"".join([orjson.dumps(r, option=orjson.OPT_APPEND_NEWLINE) for r in records]))

    def close(self):
        self.file.close()


class ParquetFileWriter:
    def __init__(self, path, schema):
        self.schema = schema
        self.writer = pq.ParquetWriter(path, schema, compression="zstd")
        self.buffer = []

    def write_many(self, records):
        self.buffer += records
        while len(self.buffer) >= ROW_GROUP_ROWS:
            self.flush(ROW_GROUP_ROWS)

    def flush(self, rows=None):
        rows = len(self.buffer) if rows is None else rows
        if rows:
            group, self.buffer = self.buffer[:rows], self.buffer[rows:]
            self.writer.write_table(pa.Table.from_pylist(group, schema=self.schema))

    def close(self):
        self.flush()
        self.writer.close()


EXTENSIONS = {"jsonl": "jsonl", "jsonl.gz": "jsonl.gz", "parquet": "parquet", "hf": "parquet"}


def open_writer(fmt, path, schema):
    if fmt == "jsonl":
        return JsonlWriter(path)
    if fmt == "jsonl.gz":
        return JsonlWriter(path, compress=True)
    return ParquetFileWriter(path, schema)


class Output:
    """The files of one export: a writer per split, and the one file to download at the end."""

    def __init__(self, folder, name, fmt, schema, split_names):
        self.folder, self.name, self.format = Path(folder), name, fmt
        self.folder.mkdir(parents=True, exist_ok=True)
        # Hugging Face folders are built from Parquet files in a scratch folder.
        self.data_folder = self.folder / "parquet" if fmt == "hf" else self.folder
        self.data_folder.mkdir(exist_ok=True)
        self.paths = {split: self.data_folder / f"{name}{'-' + split if split else ''}.{EXTENSIONS[fmt]}"
                      for split in split_names}
        self.writers = {split: open_writer(fmt, path, schema) for split, path in self.paths.items()}

    def write_many(self, records):
        """Write (split, record) pairs."""
        if len(self.writers) == 1:
            next(iter(self.writers.values())).write_many([record for _, record in records])
            return
        for split, writer in self.writers.items():
            writer.write_many([record for s, record in records if s == split])

    def close(self):
        """Finish every file; return the path of the file to download."""
        for writer in self.writers.values():
            writer.close()
        if self.format == "hf":
            return self._pack(self._save_to_disk())
        if len(self.paths) == 1:
            return next(iter(self.paths.values()))
        return self._pack(list(self.paths.values()))

    def _save_to_disk(self):
        import datasets

        cache = self.folder / "hf-cache"
        # from_parquet converts file by file into Arrow files on disk, never the whole table in memory.
        parts = {split or "train": datasets.Dataset.from_parquet(str(path), cache_dir=str(cache))
                 for split, path in self.paths.items()}
        target = self.folder / self.name
        dataset = parts["train"] if list(self.paths) == [None] else datasets.DatasetDict(parts)
        dataset.save_to_disk(str(target))
        del parts, dataset
        shutil.rmtree(cache, ignore_errors=True)
        shutil.rmtree(self.data_folder, ignore_errors=True)
        return [target]

    def _pack(self, paths):
        archive = self.folder / f"{self.name}.tar"
        # Parquet and gzip are compressed already; a plain tar just bundles them.
        with tarfile.open(archive, "w") as tar:
            for path in paths:
                tar.add(path, arcname=path.name)
        for path in paths:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        return archive
