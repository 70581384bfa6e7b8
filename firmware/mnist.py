"""MNIST samples for the firmware, streamed one at a time from a cimtrain pack file.

    from mnist import Mnist, PIXELS
    ds = Mnist("/data/mnist-train-0-1000.bin")  # checks header and size, CRC-32 of the data
    pix = bytearray(PIXELS)                      # allocate once: 28x28 uint8, row-major
    for i in range(ds.count):
        label = ds.read_into(i, pix)             # fills pix, returns 0..9; no allocation
    ds.close()

The pack file is written by ``python -m cimtrain.dataset pack`` (host_tools/cimtrain/
dataset.py) and described in docs/dataset.md: a 32-byte little-endian header, then one
785-byte record per sample (label byte, 784 pixel bytes), so a sample is one seek and two
``readinto`` calls into buffers the caller and this object allocated once.

Opening checks, in this order, and raises DatasetError naming the file and what differs:
magic, format version, header size, header CRC-32, 28x28 images, file length against the
count (a truncated file says expected vs actual bytes), then, unless ``verify=False``, the
CRC-32 of the payload (streamed through a 512-byte buffer; ``binascii.crc32`` where the
port has it, else a table-driven CRC-32 in integers).  Integers only.
"""

try:
    from micropython import const
except ImportError:  # CPython, for host tests

    def const(x):
        return x


try:
    from binascii import crc32 as _hw_crc32
except ImportError:  # a port built without binascii.crc32
    _hw_crc32 = None

# Pack format version 1 (host_tools/cimtrain/dataset.py is the writer; tests check this copy)
_MAGIC = b"MNST"
_VERSION = const(1)
_HEADER_SIZE = const(32)
_H_MAGIC = const(0)  # 4 bytes
_H_VERSION = const(4)  # u16
_H_HEADER_SIZE = const(6)  # u16
_H_COUNT = const(8)  # u32
_H_ROWS = const(12)  # u16
_H_COLS = const(14)  # u16
_H_PAYLOAD_CRC = const(16)  # u32, CRC-32 of bytes [32, end)
_H_FIRST = const(20)  # u32, index of the first sample in its MNIST split
_H_SPLIT = const(24)  # u8: 0 train, 1 test, 255 other; 3 reserved bytes follow
_H_HEADER_CRC = const(28)  # u32, CRC-32 of bytes [0, 28)

ROWS = const(28)
COLS = const(28)
PIXELS = const(784)
_RECORD = const(785)  # label byte + PIXELS
_NCLASSES = const(10)
_CHUNK = const(512)  # CRC streaming buffer


class DatasetError(Exception):
    pass


_table = None


def _crc32_soft(buf, n, crc):
    # CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, init and final xor 0xFFFFFFFF,
    # as zlib and binascii) of buf[:n], continuing from crc.  Slow; only for ports
    # without binascii.crc32.
    global _table
    if _table is None:
        from array import array

        _table = array("I", [0] * 256)
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
            _table[i] = c
    t = _table
    crc ^= 0xFFFFFFFF
    for i in range(n):
        crc = t[(crc ^ buf[i]) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _crc32(buf, n, crc):
    if _hw_crc32 is None:
        return _crc32_soft(buf, n, crc)
    if n == len(buf):
        return _hw_crc32(buf, crc)
    return _hw_crc32(memoryview(buf)[:n], crc)


def _u16(b, o):
    return b[o] | b[o + 1] << 8


def _u32(b, o):
    return b[o] | b[o + 1] << 8 | b[o + 2] << 16 | b[o + 3] << 24


class Mnist:
    """A pack file opened for random access; ``count`` samples of ROWS x COLS pixels."""

    def __init__(self, path, verify=True):
        self.path = path
        try:
            self._f = open(path, "rb")
        except OSError as e:
            raise DatasetError("%s: cannot open (%s)" % (path, e)) from None
        self._label = bytearray(1)
        try:
            self._check_header()
            if verify:
                self._verify_payload()
        except BaseException:
            self._f.close()
            raise

    def _fail(self, msg):
        raise DatasetError("%s: %s" % (self.path, msg))

    def _check_header(self):
        f = self._f
        h = bytearray(_HEADER_SIZE)
        n = f.readinto(h) or 0
        if n < _HEADER_SIZE:
            self._fail("truncated header: %d bytes, expected at least %d" % (n, _HEADER_SIZE))
        if h[_H_MAGIC:_H_MAGIC + 4] != _MAGIC:
            self._fail("bad magic %r, expected %r (not a cimtrain MNIST pack)"
                       % (bytes(h[_H_MAGIC:_H_MAGIC + 4]), _MAGIC))
        v = _u16(h, _H_VERSION)
        if v != _VERSION:
            self._fail("format version %d, this reader reads version %d" % (v, _VERSION))
        v = _u16(h, _H_HEADER_SIZE)
        if v != _HEADER_SIZE:
            self._fail("header size %d, expected %d" % (v, _HEADER_SIZE))
        got = _crc32(h, _H_HEADER_CRC, 0)
        want = _u32(h, _H_HEADER_CRC)
        if got != want:
            self._fail("header CRC-32 0x%08x, recorded 0x%08x (corrupted header)" % (got, want))
        rows, cols = _u16(h, _H_ROWS), _u16(h, _H_COLS)
        if rows != ROWS or cols != COLS:
            self._fail("images are %dx%d, expected %dx%d" % (rows, cols, ROWS, COLS))
        count = _u32(h, _H_COUNT)
        want = _HEADER_SIZE + count * _RECORD
        size = f.seek(0, 2)
        if size != want:
            self._fail("%s: %d bytes, expected %d (%d-byte header + %d x %d-byte records)"
                       % ("truncated" if size < want else "too long", size, want,
                          _HEADER_SIZE, count, _RECORD))
        self.count = count
        self.rows = rows
        self.cols = cols
        self.first = _u32(h, _H_FIRST)
        self.split = h[_H_SPLIT]
        self.crc = _u32(h, _H_PAYLOAD_CRC)

    def _verify_payload(self):
        f = self._f
        buf = bytearray(_CHUNK)
        f.seek(_HEADER_SIZE)
        left = self.count * _RECORD
        crc = 0
        while left:
            n = f.readinto(buf) or 0
            if n == 0:
                self._fail("short read with %d payload bytes left" % left)
            if n > left:
                n = left
            crc = _crc32(buf, n, crc)
            left -= n
        if crc != self.crc:
            self._fail("payload CRC-32 0x%08x, recorded 0x%08x (corrupted data)"
                       % (crc, self.crc))

    def read_into(self, index, pixbuf):
        """Fill ``pixbuf`` (bytearray(PIXELS)) with sample ``index``; return its label."""
        if not 0 <= index < self.count:
            raise IndexError("sample %d of %d" % (index, self.count))
        if len(pixbuf) != PIXELS:
            raise ValueError("pixbuf has %d bytes, expected %d" % (len(pixbuf), PIXELS))
        f = self._f
        f.seek(_HEADER_SIZE + index * _RECORD)
        if f.readinto(self._label) != 1 or f.readinto(pixbuf) != PIXELS:
            self._fail("short read of sample %d (file changed?)" % index)
        label = self._label[0]
        if label >= _NCLASSES:
            self._fail("sample %d has label %d, expected 0..%d" % (index, label, _NCLASSES - 1))
        return label

    def __len__(self):
        return self.count

    def close(self):
        self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
