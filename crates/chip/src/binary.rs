//! `cores.bin`: the per-core images in the little-endian layout of `docs/chip-config.md`.
//!
//! A 32-byte file header, two global sections (input fan-out, placement), then six sections per
//! core (header, group exponents, compartment table, axon table, packed synapse memory, fan-out
//! table). Every section carries its length and a CRC-32 of its header and payload. The decoder
//! checks structure only (magic, version, lengths, checksums, running offsets, index widths);
//! `validate` checks meaning.

use std::{
    fs::File,
    io::{BufReader, Read, Seek, SeekFrom, Write},
    path::Path,
};

use crate::{
    ChipError, Compartment, Destination, FlatCore, PartialRoot, Synapse, validate::index_bits,
    view::CoreView,
};

/// The first 8 bytes of `cores.bin`.
pub(crate) const MAGIC: [u8; 8] = *b"LIFCHIPC";
/// Version of the `cores.bin` layout.
pub(crate) const VERSION: u32 = 4;
/// The `core` field of a section that belongs to no core.
const GLOBAL: u32 = u32::MAX;
const FILE_HEADER_BYTES: usize = 32;
const SECTION_HEADER_BYTES: usize = 16;
const CORE_HEADER_BYTES: usize = 36;
const COMPARTMENT_BYTES: usize = 68;
/// `root_core` / `root_compartment` of a compartment that is not a partial sum.
const NO_ROOT: u32 = u32::MAX;
const AXON_BYTES: usize = 12;
const DESTINATION_BYTES: usize = 8;

/// What `cores.bin` holds besides the target and the names in the manifest.
#[derive(Debug)]
pub(crate) struct CoresImage {
    pub weight_field_bits: u32,
    pub inputs: Vec<Vec<Destination>>,
    pub placements: Vec<Vec<(u32, u32)>>,
    pub cores: Vec<FlatCore>,
}

// ---------------------------------------------------------------- writing

struct Out(Vec<u8>);

impl Out {
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn i32(&mut self, v: i32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn usize32(&mut self, v: usize) {
        // Sizes were checked against u32 by `validate` before encoding.
        self.u32(u32::try_from(v).unwrap_or(u32::MAX));
    }

    /// Appends a section: tag, core, payload length, payload, CRC of all four.
    fn section(&mut self, tag: &[u8; 4], core: u32, payload: &[u8]) {
        let start = self.0.len();
        self.0.extend_from_slice(tag);
        self.u32(core);
        self.0
            .extend_from_slice(&(payload.len() as u64).to_le_bytes());
        self.0.extend_from_slice(payload);
        let crc = crc32fast::hash(&self.0[start..]);
        self.u32(crc);
    }
}

/// Packs values of up to 64 bits, least significant bit first.
struct BitWriter {
    out: Vec<u8>,
    acc: u128,
    bits: u32,
}

impl BitWriter {
    fn push(&mut self, value: u64, width: u32) {
        let masked = if width >= 64 {
            value
        } else {
            value & ((1u64 << width) - 1)
        };
        self.acc |= u128::from(masked) << self.bits;
        self.bits += width;
        while self.bits >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.bits -= 8;
        }
    }
    /// Writes out the last partial byte (zero-padded); the writer is then empty again.
    fn flush(&mut self) {
        if self.bits > 0 {
            self.out.push(self.acc as u8);
        }
        (self.acc, self.bits) = (0, 0);
    }
}

/// A writer that counts the bytes through it and sums their CRC-32 (what the manifest
/// records of `cores.bin`).
struct Summed<W> {
    inner: W,
    len: u64,
    crc: crc32fast::Hasher,
}

impl<W: Write> Summed<W> {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.inner.write_all(bytes)?;
        self.len += bytes.len() as u64;
        self.crc.update(bytes);
        Ok(())
    }
}

/// Encodes `cores.bin` for a configuration that has passed `validate` into `w`, a section at
/// a time (never the whole file in memory). Returns its length and CRC-32.
pub(crate) fn encode<C: CoreView>(
    w: impl Write,
    inputs: &[Vec<Destination>],
    placements: &[&[(u32, u32)]],
    cores: &[C],
    weight_field_bits: u32,
) -> std::io::Result<(u64, u32)> {
    let mut w = Summed {
        inner: w,
        len: 0,
        crc: crc32fast::Hasher::new(),
    };
    let mut out = Out(Vec::new());
    out.0.extend_from_slice(&MAGIC);
    out.u32(VERSION);
    out.usize32(cores.len());
    out.usize32(inputs.len());
    out.usize32(placements.len());
    out.u32(weight_field_bits);
    let crc = crc32fast::hash(&out.0);
    out.u32(crc);

    let mut p = Out(Vec::new());
    for dests in inputs {
        p.usize32(dests.len());
    }
    for d in inputs.iter().flatten() {
        p.u32(d.core);
        p.u32(d.axon);
    }
    out.section(b"INPT", GLOBAL, &p.0);

    let mut p = Out(Vec::new());
    for placement in placements {
        p.usize32(placement.len());
        for &(core, slot) in placement.iter() {
            p.u32(core);
            p.u32(slot);
        }
    }
    out.section(b"PLCE", GLOBAL, &p.0);
    w.put(&out.0)?;

    // One buffer for a core's sections and one for a section's payload, reused.
    let mut p = Out(Vec::new());
    let mut bits = BitWriter {
        out: Vec::new(),
        acc: 0,
        bits: 0,
    };
    for core in cores {
        out.0.clear();
        let id = core.id();
        let n_syn: usize = core.axons().map(|a| a.synapses.len()).sum();
        let n_dest: usize = core
            .compartments()
            .iter()
            .map(|c| c.destinations.len())
            .sum();
        let ibits = index_bits(core.compartments().len());
        p.0.clear();
        p.u32(id);
        p.u32(core.x());
        p.u32(core.y());
        p.usize32(core.compartments().len());
        p.usize32(core.n_axons());
        p.usize32(n_syn);
        p.usize32(core.group_exponents().len());
        p.usize32(n_dest);
        p.u32(ibits);
        out.section(b"CORE", id, &p.0);

        p.0.clear();
        for &e in core.group_exponents() {
            p.i32(e);
        }
        out.section(b"GRPS", id, &p.0);

        p.0.clear();
        let mut fanout = 0usize;
        for c in core.compartments() {
            p.u32(c.population);
            p.u32(c.neuron);
            p.u32(c.current_decay);
            p.u32(c.voltage_decay);
            p.u32(c.threshold);
            p.i32(c.bias);
            p.u32(c.bias_exp);
            p.u32(c.refractory);
            p.u32(c.max_spikes);
            p.usize32(fanout);
            p.usize32(c.destinations.len());
            let root = c.partial_of.map_or((NO_ROOT, NO_ROOT, NO_ROOT), |r| {
                (r.core, r.compartment, u32::from(r.group))
            });
            p.u32(root.0);
            p.u32(root.1);
            p.u32(root.2);
            p.i32(c.initial_u);
            p.i32(c.initial_v);
            p.u32(c.current_decay_2);
            fanout += c.destinations.len();
        }
        out.section(b"CMPT", id, &p.0);

        p.0.clear();
        let mut start = 0usize;
        for a in core.axons() {
            p.u16(a.group);
            // Version 3's reserved field: the synaptic current, stored as 0 (I_syn) or 1.
            p.u16(u16::from(a.current.saturating_sub(1)));
            p.usize32(start);
            p.usize32(a.synapses.len());
            start += a.synapses.len();
        }
        out.section(b"AXON", id, &p.0);

        bits.out.clear();
        for a in core.axons() {
            for s in a.synapses {
                bits.push(u64::from(s.compartment), ibits);
                bits.push(s.weight as i64 as u64, weight_field_bits);
            }
        }
        bits.flush();
        out.section(b"SYNS", id, &bits.out);

        p.0.clear();
        for d in core.compartments().iter().flat_map(|c| &c.destinations) {
            p.u32(d.core);
            p.u32(d.axon);
        }
        out.section(b"FOUT", id, &p.0);
        w.put(&out.0)?;
    }
    w.inner.flush()?;
    Ok((w.len, w.crc.finalize()))
}

// ---------------------------------------------------------------- reading

/// `cores.bin` as it is read: its length, the bytes read so far and their CRC-32.
struct Stream<R> {
    input: R,
    len: u64,
    pos: u64,
    crc: crc32fast::Hasher,
}

impl<R: Read> Stream<R> {
    /// The next `buf.len()` bytes, which the caller checked are within `len`.
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<()> {
        self.input.read_exact(buf)?;
        self.crc.update(buf);
        self.pos += buf.len() as u64;
        Ok(())
    }

    /// Reads to the end (into the CRC) and returns the file's CRC-32.
    fn finish(self) -> std::io::Result<u32> {
        Ok(self.rest()?.finalize())
    }

    /// Reads to the end (into the CRC) and returns the CRC's state.
    fn rest(mut self) -> std::io::Result<crc32fast::Hasher> {
        let mut chunk = vec![0u8; 1 << 16];
        while self.pos < self.len {
            let n = (self.len - self.pos).min(chunk.len() as u64) as usize;
            self.read(&mut chunk[..n])?;
        }
        Ok(self.crc)
    }
}

/// Walks `cores.bin` section by section, naming the file, the core and the field in every
/// error; only the current section is in memory.
struct Reader<'a, R> {
    stream: Stream<R>,
    /// The current section: header, payload and CRC.
    buf: Vec<u8>,
    file: &'a Path,
}

impl<'a, R: Read> Reader<'a, R> {
    fn err(
        &self,
        core: Option<u32>,
        field: impl Into<String>,
        detail: impl Into<String>,
    ) -> ChipError {
        ChipError::corrupt(self.file, core, field, detail)
    }

    /// Reads the next section, which must be `tag` of `core`, and checks its CRC.
    fn section(&mut self, tag: &[u8; 4], core: Option<u32>) -> Result<&[u8], ChipError> {
        let name = String::from_utf8_lossy(tag).into_owned();
        let at = self.stream.pos;
        let left = self.stream.len - at;
        if left < (SECTION_HEADER_BYTES + 4) as u64 {
            return Err(self.err(
                core,
                format!("section {name}"),
                format!("truncated at byte {at}: the section needs at least 20 bytes, {left} left"),
            ));
        }
        let mut head = [0u8; SECTION_HEADER_BYTES];
        self.stream
            .read(&mut head)
            .map_err(|e| ChipError::io(self.file, e))?;
        if &head[0..4] != tag {
            return Err(self.err(
                core,
                format!("section {name}"),
                format!(
                    "byte {at}: expected tag {name:?}, found {:?}",
                    String::from_utf8_lossy(&head[0..4])
                ),
            ));
        }
        let found_core = le_u32(&head[4..8]);
        let want_core = core.unwrap_or(GLOBAL);
        if found_core != want_core {
            return Err(self.err(
                core,
                format!("section {name}.core"),
                format!("byte {}: expected {want_core}, found {found_core}", at + 4),
            ));
        }
        let len = u64::from_le_bytes(head[8..16].try_into().unwrap_or([0; 8]));
        let room = left - (SECTION_HEADER_BYTES + 4) as u64;
        if len > room {
            return Err(self.err(
                core,
                format!("section {name}.length"),
                format!("byte {}: payload of {len} bytes, but only {room} bytes follow (truncated or corrupt)", at + 8),
            ));
        }
        // `len` is within the file, whose size was checked: the buffer is bounded by it.
        let end = SECTION_HEADER_BYTES + len as usize;
        self.buf.clear();
        self.buf.extend_from_slice(&head);
        self.buf.resize(end + 4, 0);
        self.stream
            .read(&mut self.buf[SECTION_HEADER_BYTES..])
            .map_err(|e| ChipError::io(self.file, e))?;
        let stored = le_u32(&self.buf[end..end + 4]);
        let actual = crc32fast::hash(&self.buf[..end]);
        if stored != actual {
            return Err(self.err(
                core,
                format!("section {name}.crc32"),
                format!("checksum mismatch (stored {stored:08x}, computed {actual:08x}): the file is damaged"),
            ));
        }
        Ok(&self.buf[SECTION_HEADER_BYTES..end])
    }
}

fn le_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// Fixed-size fields of a payload whose length was checked beforehand.
struct Fields<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Fields<'_> {
    fn u32(&mut self) -> u32 {
        let v = self.bytes.get(self.pos..self.pos + 4).map_or(0, le_u32);
        self.pos += 4;
        v
    }
    fn i32(&mut self) -> i32 {
        self.u32() as i32
    }
}

/// Reads bit fields packed by [`BitWriter`].
struct BitReader<'a> {
    bytes: &'a [u8],
    bit: u64,
}

impl BitReader<'_> {
    fn take(&mut self, width: u32) -> u64 {
        // Fast path: the field lies in the 8 bytes from its first one.
        let (at, offset) = ((self.bit / 8) as usize, (self.bit % 8) as u32);
        if width + offset <= 64
            && let Some(b) = self.bytes.get(at..at + 8)
        {
            let word = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
            self.bit += u64::from(width);
            return match width {
                0 => 0,
                _ => (word >> offset) & (u64::MAX >> (64 - width)),
            };
        }
        let mut v = 0u64;
        let mut got = 0u32;
        while got < width {
            let byte = self
                .bytes
                .get((self.bit / 8) as usize)
                .copied()
                .unwrap_or(0);
            let offset = (self.bit % 8) as u32;
            let n = (8 - offset).min(width - got);
            let chunk = (u64::from(byte) >> offset) & ((1u64 << n) - 1);
            v |= chunk << got;
            got += n;
            self.bit += u64::from(n);
        }
        v
    }
}

fn sign_extend(v: u64, width: u32) -> i64 {
    if width == 0 || width >= 64 {
        return v as i64;
    }
    let shift = 64 - width;
    ((v << shift) as i64) >> shift
}

/// Checks that a payload of `len` bytes holds exactly `count` records of `size` bytes.
fn expect_len(
    file: &Path,
    core: Option<u32>,
    field: &str,
    len: usize,
    count: u64,
    size: u64,
) -> Result<(), ChipError> {
    let want = count.checked_mul(size);
    if want != Some(len as u64) {
        return Err(ChipError::corrupt(
            file,
            core,
            field,
            format!(
                "payload is {len} bytes; {count} records of {size} bytes need {}",
                count.saturating_mul(size)
            ),
        ));
    }
    Ok(())
}

/// Decodes `cores.bin` from memory; structural checks only.
#[cfg(test)]
pub(crate) fn decode(bytes: &[u8], file: &Path) -> Result<CoresImage, ChipError> {
    decode_from(bytes, bytes.len() as u64, file, &[])?.0
}

/// Decodes `cores.bin` of `len` bytes from `input`, section by section; structural checks
/// only. Returns the decoded image or the first structural problem, and the CRC-32 of the
/// whole file (read to its end either way, so that a damaged file is reported as such
/// before any structural problem it causes). Errors are read errors. `capacity`: per core,
/// the axons and synapses the file is expected to hold (see [`decode_cores`]).
pub(crate) fn decode_from<R: Read>(
    input: R,
    len: u64,
    file: &Path,
    capacity: &[(u64, u64)],
) -> Result<(Result<CoresImage, ChipError>, u32), ChipError> {
    let mut r = Reader {
        stream: Stream {
            input,
            len,
            pos: 0,
            crc: crc32fast::Hasher::new(),
        },
        buf: Vec::new(),
        file,
    };
    let image = match decode_sections(&mut r, capacity) {
        Err(e @ ChipError::Io { .. }) => return Err(e),
        image => image,
    };
    let crc = r.stream.finish().map_err(|e| ChipError::io(file, e))?;
    Ok((image, crc))
}

/// Cores below this many are decoded in one pass even with threads to spare.
const SPLIT_MIN_CORES: u32 = 64;

/// [`decode_from`] on `file` (`cores.bin` at `path`, `len` bytes as checked), with the same
/// result and CRC. With more than one thread in the pool, the cores from the middle of the
/// file on are decoded beside the first ones, from a second handle (their tables their own):
/// the cores' sections are walked from header to header to find where the second half
/// starts, and the two halves' CRCs combined. Anything unexpected on that walk, or a first
/// half that ends elsewhere, and the file is decoded in one pass; an error in the first half
/// is reported before one in the second, as one pass would.
pub(crate) fn decode_file(
    file: File,
    path: &Path,
    len: u64,
    capacity: &[(u64, u64)],
) -> Result<(Result<CoresImage, ChipError>, u32), ChipError> {
    let io = |e| ChipError::io(path, e);
    let stream = |input: File, pos: u64| Stream {
        input: BufReader::with_capacity(1 << 20, input),
        len,
        pos,
        crc: crc32fast::Hasher::new(),
    };
    // One pass from the start, on `file` again.
    let serial = |s: Stream<BufReader<File>>| {
        let mut f = s.input.into_inner();
        f.seek(SeekFrom::Start(0)).map_err(io)?;
        decode_from(BufReader::with_capacity(1 << 20, f), len, path, capacity)
    };
    let mut first = Reader {
        stream: stream(file, 0),
        buf: Vec::new(),
        file: path,
    };
    if rayon::current_num_threads() < 2 {
        return decode_from(first.stream.input, len, path, capacity);
    }
    // A problem before the cores: one pass reports it (with the CRC).
    let Ok(head) = decode_head(&mut first) else {
        return serial(first.stream);
    };
    let middle = (head.n_cores >= SPLIT_MIN_CORES)
        .then(|| find_middle(path, first.stream.pos, len, head.n_cores))
        .flatten();
    let Some((mid, mid_at)) = middle else {
        return serial(first.stream);
    };
    let wbits = head.weight_field_bits;
    let (a, b) = rayon::join(
        || {
            let cores = decode_cores(&mut first, 0..mid, wbits, capacity);
            (cores, first)
        },
        || -> Result<_, ChipError> {
            let mut f = File::open(path).map_err(io)?;
            f.seek(SeekFrom::Start(mid_at)).map_err(io)?;
            let mut second = Reader {
                stream: stream(f, mid_at),
                buf: Vec::new(),
                file: path,
            };
            let cores = decode_cores(&mut second, mid..head.n_cores, wbits, capacity)
                .and_then(|cores| check_end(&second).map(|()| cores));
            Ok((cores, second.stream))
        },
    );
    #[cfg(test)]
    tests::SPLITS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // The first half's outcome first, as one pass meets it.
    let (a, first) = a;
    let a = match a {
        Err(e @ ChipError::Io { .. }) => return Err(e),
        // The whole file's CRC from the first handle, as one pass reads it.
        Err(e) => return Ok((Err(e), first.stream.finish().map_err(io)?)),
        Ok(_) if first.stream.pos != mid_at => return serial(first.stream),
        Ok(a) => a,
    };
    let (b, second) = b?;
    if let Err(e @ ChipError::Io { .. }) = b {
        return Err(e);
    }
    let mut crc = first.stream.crc;
    crc.combine(&second.rest().map_err(io)?);
    let image = b.map(|b| {
        let mut cores = a;
        cores.extend(b);
        head.image(cores)
    });
    Ok((image, crc.finalize()))
}

/// The first core at or after the middle of the file and its offset, walking the cores'
/// section headers from `at` (the first core's) with seeks; `None` on anything unexpected
/// (a wrong tag or core, a length past the end, a read error) or no such core after core 0.
fn find_middle(path: &Path, mut at: u64, len: u64, n_cores: u32) -> Option<(u32, u64)> {
    // A core's sections, in the order `decode_core` reads them.
    const TAGS: [&[u8; 4]; 6] = [b"CORE", b"GRPS", b"CMPT", b"AXON", b"SYNS", b"FOUT"];
    let mut f = File::open(path).ok()?;
    let mut head = [0u8; SECTION_HEADER_BYTES];
    for c in 0..n_cores {
        if c > 0 && at >= len / 2 {
            return Some((c, at));
        }
        for tag in TAGS {
            f.seek(SeekFrom::Start(at)).ok()?;
            f.read_exact(&mut head).ok()?;
            let payload = u64::from_le_bytes(head[8..16].try_into().ok()?);
            if &head[0..4] != tag || le_u32(&head[4..8]) != c {
                return None;
            }
            at = at
                .checked_add(SECTION_HEADER_BYTES as u64 + 4)?
                .checked_add(payload)
                .filter(|&end| end <= len)?;
        }
    }
    None
}

fn decode_sections<R: Read>(
    r: &mut Reader<'_, R>,
    capacity: &[(u64, u64)],
) -> Result<CoresImage, ChipError> {
    let head = decode_head(r)?;
    let cores = decode_cores(r, 0..head.n_cores, head.weight_field_bits, capacity)?;
    check_end(r)?;
    Ok(head.image(cores))
}

/// What precedes the cores in `cores.bin`.
struct Head {
    n_cores: u32,
    weight_field_bits: u32,
    inputs: Vec<Vec<Destination>>,
    placements: Vec<Vec<(u32, u32)>>,
}

impl Head {
    fn image(self, cores: Vec<FlatCore>) -> CoresImage {
        CoresImage {
            weight_field_bits: self.weight_field_bits,
            inputs: self.inputs,
            placements: self.placements,
            cores,
        }
    }
}

/// The file header, the input fan-out and the placements.
fn decode_head<R: Read>(r: &mut Reader<'_, R>) -> Result<Head, ChipError> {
    let file = r.file;
    let err = |core: Option<u32>, field: &str, detail: String| {
        ChipError::corrupt(file, core, field, detail)
    };
    let file_len = r.stream.len;
    if file_len < FILE_HEADER_BYTES as u64 {
        return Err(err(
            None,
            "header",
            format!("truncated: {file_len} bytes, the header alone needs {FILE_HEADER_BYTES}"),
        ));
    }
    let mut bytes = [0u8; FILE_HEADER_BYTES];
    r.stream
        .read(&mut bytes)
        .map_err(|e| ChipError::io(file, e))?;
    if bytes[0..8] != MAGIC {
        return Err(err(
            None,
            "magic",
            format!(
                "expected {:?}, found {:?}",
                "LIFCHIPC",
                String::from_utf8_lossy(&bytes[0..8])
            ),
        ));
    }
    let version = le_u32(&bytes[8..12]);
    if version != VERSION {
        return Err(err(
            None,
            "version",
            format!("{version} is not supported (this reader knows version {VERSION})"),
        ));
    }
    let stored = le_u32(&bytes[28..32]);
    let actual = crc32fast::hash(&bytes[0..28]);
    if stored != actual {
        return Err(err(
            None,
            "header.crc32",
            format!("checksum mismatch (stored {stored:08x}, computed {actual:08x})"),
        ));
    }
    let n_cores = le_u32(&bytes[12..16]);
    let n_channels = le_u32(&bytes[16..20]);
    let n_pops = le_u32(&bytes[20..24]);
    let weight_field_bits = le_u32(&bytes[24..28]);
    if !(1..=32).contains(&weight_field_bits) {
        return Err(err(
            None,
            "header.weight_field_bits",
            format!("{weight_field_bits}: expected 1..=32"),
        ));
    }
    // Input fan-out.
    let payload = r.section(b"INPT", None)?;
    let counts_len = u64::from(n_channels) * 4;
    if (payload.len() as u64) < counts_len {
        return Err(err(
            None,
            "section INPT",
            format!(
                "payload of {} bytes cannot hold {n_channels} channel counts",
                payload.len()
            ),
        ));
    }
    let mut f = Fields {
        bytes: payload,
        pos: 0,
    };
    let counts: Vec<u32> = (0..n_channels).map(|_| f.u32()).collect();
    let total: u64 = counts.iter().map(|&c| u64::from(c)).sum();
    expect_len(
        file,
        None,
        "section INPT",
        payload.len() - counts_len as usize,
        total,
        DESTINATION_BYTES as u64,
    )?;
    let inputs = counts
        .iter()
        .map(|&c| {
            (0..c)
                .map(|_| Destination {
                    core: f.u32(),
                    axon: f.u32(),
                })
                .collect()
        })
        .collect();

    // Placement of each population.
    let payload = r.section(b"PLCE", None)?;
    let mut f = Fields {
        bytes: payload,
        pos: 0,
    };
    let mut placements = Vec::new();
    for p in 0..n_pops {
        let left = payload.len().saturating_sub(f.pos);
        if left < 4 {
            return Err(err(
                None,
                "section PLCE",
                format!("ends before population {p}'s entry count"),
            ));
        }
        let count = f.u32();
        if u64::from(count) * 8 > (left - 4) as u64 {
            return Err(err(
                None,
                "section PLCE",
                format!("population {p} claims {count} entries; the payload is too short"),
            ));
        }
        placements.push((0..count).map(|_| (f.u32(), f.u32())).collect::<Vec<_>>());
    }
    if f.pos != payload.len() {
        return Err(err(
            None,
            "section PLCE",
            format!("{} bytes after the last population", payload.len() - f.pos),
        ));
    }
    Ok(Head {
        n_cores,
        weight_field_bits,
        inputs,
        placements,
    })
}

/// Cores `ids` (the next in the file), their axons in tables of their own. `capacity`: per
/// core of the file, the axons and synapses the manifest says it holds (a hint only: the
/// tables are then allocated once, at their size, instead of growing by doubling; bounded by
/// what the rest of the file can hold, so that a wrong hint cannot ask for more).
fn decode_cores<R: Read>(
    r: &mut Reader<'_, R>,
    ids: std::ops::Range<u32>,
    weight_field_bits: u32,
    capacity: &[(u64, u64)],
) -> Result<Vec<FlatCore>, ChipError> {
    let (axons, synapses) = capacity
        .get(ids.start as usize..(ids.end as usize).min(capacity.len()))
        .unwrap_or(&[])
        .iter()
        .fold((0u64, 0u64), |(a, s), &(x, y)| {
            (a.saturating_add(x), s.saturating_add(y))
        });
    // An axon takes 12 bytes, a synapse at least its weight field.
    let left = r.stream.len - r.stream.pos;
    let mut tables = crate::flat::Tables::with_capacity(
        axons.min(left / AXON_BYTES as u64),
        synapses.min(left.saturating_mul(8) / u64::from(weight_field_bits.max(1))),
    );
    let mut cores = Vec::with_capacity(ids.len().min(left as usize / SECTION_HEADER_BYTES));
    for c in ids {
        cores.push(decode_core(r, c, weight_field_bits, &mut tables)?);
    }
    crate::flat::attach_all(&mut cores, tables);
    Ok(cores)
}

/// Nothing may follow the last core.
fn check_end<R: Read>(r: &Reader<'_, R>) -> Result<(), ChipError> {
    let (pos, len) = (r.stream.pos, r.stream.len);
    if pos != len {
        return Err(ChipError::corrupt(
            r.file,
            None,
            "end",
            format!("{} unexpected bytes after the last core", len - pos),
        ));
    }
    Ok(())
}

fn decode_core<R: Read>(
    r: &mut Reader<'_, R>,
    c: u32,
    weight_field_bits: u32,
    tables: &mut crate::flat::Tables,
) -> Result<FlatCore, ChipError> {
    let file = r.file;
    let core = Some(c);
    let err = |field: &str, detail: String| ChipError::corrupt(file, core, field, detail);

    let payload = r.section(b"CORE", core)?;
    expect_len(
        file,
        core,
        "section CORE",
        payload.len(),
        1,
        CORE_HEADER_BYTES as u64,
    )?;
    let mut f = Fields {
        bytes: payload,
        pos: 0,
    };
    let id = f.u32();
    let x = f.u32();
    let y = f.u32();
    let n_comp = f.u32();
    let n_axon = f.u32();
    let n_syn = f.u32();
    let n_groups = f.u32();
    let n_dest = f.u32();
    let ibits = f.u32();
    if id != c {
        return Err(err(
            "CORE.id",
            format!("{id}; expected {c} (cores are stored in id order)"),
        ));
    }
    let want_ibits = index_bits(n_comp as usize);
    if ibits != want_ibits {
        return Err(err(
            "CORE.index_bits",
            format!("{ibits}; {n_comp} compartments need {want_ibits}"),
        ));
    }

    let payload = r.section(b"GRPS", core)?;
    expect_len(
        file,
        core,
        "section GRPS",
        payload.len(),
        u64::from(n_groups),
        4,
    )?;
    let mut f = Fields {
        bytes: payload,
        pos: 0,
    };
    let group_exponents: Vec<i32> = (0..n_groups).map(|_| f.i32()).collect();

    let payload = r.section(b"CMPT", core)?;
    expect_len(
        file,
        core,
        "section CMPT",
        payload.len(),
        u64::from(n_comp),
        COMPARTMENT_BYTES as u64,
    )?;
    let mut f = Fields {
        bytes: payload,
        pos: 0,
    };
    let mut compartments = Vec::with_capacity(n_comp as usize);
    let mut fanout = Vec::with_capacity(n_comp as usize);
    let mut next = 0u64;
    for k in 0..n_comp {
        let comp = Compartment {
            population: f.u32(),
            neuron: f.u32(),
            current_decay: f.u32(),
            voltage_decay: f.u32(),
            threshold: f.u32(),
            bias: f.i32(),
            bias_exp: f.u32(),
            refractory: f.u32(),
            max_spikes: f.u32(),
            destinations: Vec::new(),
            partial_of: None,
            initial_u: 0,
            initial_v: 0,
            current_decay_2: 0,
        };
        let start = f.u32();
        let count = f.u32();
        let root = (f.u32(), f.u32(), f.u32());
        let (initial_u, initial_v) = (f.i32(), f.i32());
        let current_decay_2 = f.u32();
        let partial_of = match root {
            (NO_ROOT, NO_ROOT, NO_ROOT) => None,
            (core, compartment, group) => match u16::try_from(group) {
                Ok(group) => Some(PartialRoot {
                    core,
                    compartment,
                    group,
                }),
                Err(_) => {
                    return Err(err(
                        &format!("compartments[{k}].root_group"),
                        format!("{group}; expected a group index below 65536"),
                    ));
                }
            },
        };
        let comp = Compartment {
            partial_of,
            initial_u,
            initial_v,
            current_decay_2,
            ..comp
        };
        if u64::from(start) != next {
            return Err(err(
                &format!("compartments[{k}].fanout_start"),
                format!("{start}; expected {next} (fan-out lists are stored back to back)"),
            ));
        }
        next += u64::from(count);
        compartments.push(comp);
        fanout.push(count);
    }
    if next != u64::from(n_dest) {
        return Err(err(
            "CMPT fan-out counts",
            format!("sum to {next}, but the core header says {n_dest} destinations"),
        ));
    }

    let payload = r.section(b"AXON", core)?;
    expect_len(
        file,
        core,
        "section AXON",
        payload.len(),
        u64::from(n_axon),
        AXON_BYTES as u64,
    )?;
    let mut rows = Vec::with_capacity(n_axon as usize);
    let mut next = 0u64;
    for (a, b) in payload.chunks_exact(AXON_BYTES).enumerate() {
        let group = u16::from_le_bytes([b[0], b[1]]);
        let current = u16::from_le_bytes([b[2], b[3]]);
        let start = le_u32(&b[4..8]);
        let count = le_u32(&b[8..12]);
        if current > 1 {
            return Err(err(
                &format!("axons[{a}].current"),
                format!("{current}; must be 0 (I_syn) or 1 (I_syn2)"),
            ));
        }
        if u64::from(start) != next {
            return Err(err(
                &format!("axons[{a}].synapse_start"),
                format!("{start}; expected {next} (synapse rows are stored back to back)"),
            ));
        }
        next += u64::from(count);
        rows.push((group, current as u8 + 1, count));
    }
    if next != u64::from(n_syn) {
        return Err(err(
            "AXON synapse counts",
            format!("sum to {next}, but the core header says {n_syn} synapses"),
        ));
    }

    let payload = r.section(b"SYNS", core)?;
    let width = u64::from(ibits + weight_field_bits);
    let total_bits = u64::from(n_syn) * width;
    let want = total_bits.div_ceil(8);
    if payload.len() as u64 != want {
        return Err(err(
            "section SYNS",
            format!(
                "payload is {} bytes; {n_syn} synapses of {width} bits need {want}",
                payload.len()
            ),
        ));
    }
    let mut bits = BitReader {
        bytes: payload,
        bit: 0,
    };
    // Both counts are bounded by the section lengths checked above. A synapse's index and
    // weight are one field of at most 64 bits, read at once.
    let mut flat = FlatCore::new(id, (x, y), group_exponents, Vec::new(), tables);
    let index_mask = u64::MAX >> (64 - ibits);
    let synapses = (0..n_syn).map(|_| {
        let field = bits.take(ibits + weight_field_bits);
        Synapse {
            compartment: (field & index_mask) as u32,
            weight: sign_extend(field >> ibits, weight_field_bits) as i32,
        }
    });
    // The rows' lengths sum to `n_syn` (checked above), so this cannot refuse; were it to,
    // the file is refused rather than its rows dropped.
    if !flat.push_rows(tables, &rows, synapses) {
        return Err(err(
            "section SYNS",
            format!("{n_syn} synapses do not fit the axons' rows"),
        ));
    }
    let pad = (want * 8 - total_bits) as u32;
    if pad > 0 && bits.take(pad) != 0 {
        return Err(err(
            "section SYNS",
            "padding bits after the last synapse are not zero".to_string(),
        ));
    }

    let payload = r.section(b"FOUT", core)?;
    expect_len(
        file,
        core,
        "section FOUT",
        payload.len(),
        u64::from(n_dest),
        DESTINATION_BYTES as u64,
    )?;
    // The lengths were checked to sum to the section's records.
    let mut records = payload.chunks_exact(DESTINATION_BYTES);
    for (comp, count) in compartments.iter_mut().zip(fanout) {
        comp.destinations = records
            .by_ref()
            .take(count as usize)
            .map(|b| Destination {
                core: le_u32(&b[0..4]),
                axon: le_u32(&b[4..8]),
            })
            .collect();
    }
    flat.compartments = compartments;
    Ok(flat)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Axon, ChipConfig, CoreConfig, PopulationInfo};

    fn config() -> ChipConfig {
        let target = lifchip_target::builtin("tiny").unwrap();
        let comp = |neuron: u32, dests: Vec<Destination>| Compartment {
            population: 1,
            neuron,
            current_decay: 100,
            current_decay_2: 0,
            voltage_decay: 200,
            threshold: 1000,
            bias: -3,
            bias_exp: 2,
            refractory: 0,
            initial_u: -(1 << 23),
            initial_v: 12345,
            max_spikes: 1,
            destinations: dests,
            partial_of: None,
        };
        ChipConfig {
            target,
            net_name: "t".into(),
            net_hash: 1,
            populations: vec![
                PopulationInfo {
                    name: "in".into(),
                    shape: vec![1],
                    is_input: true,
                    placement: vec![],
                },
                PopulationInfo {
                    name: "out".into(),
                    shape: vec![3],
                    is_input: false,
                    placement: vec![(0, 0), (0, 1), (0, 2)],
                },
            ],
            inputs: vec![vec![Destination { core: 0, axon: 0 }]],
            readout: 1,
            input_rate: 1.0,
            cores: vec![CoreConfig {
                id: 0,
                x: 0,
                y: 0,
                group_exponents: vec![0, -2],
                compartments: vec![
                    comp(0, vec![Destination { core: 0, axon: 1 }]),
                    comp(1, vec![]),
                    comp(2, vec![]),
                ],
                axons: vec![
                    Axon {
                        group: 0,
                        current: 1,
                        synapses: vec![
                            Synapse {
                                compartment: 1,
                                weight: -256,
                            },
                            Synapse {
                                compartment: 2,
                                weight: 255,
                            },
                        ],
                    },
                    Axon {
                        group: 1,
                        current: 1,
                        synapses: vec![Synapse {
                            compartment: 0,
                            weight: 7,
                        }],
                    },
                ],
            }],
        }
    }

    fn encoded() -> Vec<u8> {
        encode_config(&config())
    }

    fn encode_config(c: &ChipConfig) -> Vec<u8> {
        let placements: Vec<&[(u32, u32)]> = c
            .populations
            .iter()
            .map(|p| p.placement.as_slice())
            .collect();
        let mut bytes = Vec::new();
        encode(&mut bytes, &c.inputs, &placements, &c.cores, 9).unwrap();
        bytes
    }

    /// `(tag, payload start, payload length)` of every section.
    fn sections(bytes: &[u8]) -> Vec<([u8; 4], usize, usize)> {
        let mut out = Vec::new();
        let mut at = FILE_HEADER_BYTES;
        while at < bytes.len() {
            let tag: [u8; 4] = bytes[at..at + 4].try_into().unwrap();
            let len = u64::from_le_bytes(bytes[at + 8..at + 16].try_into().unwrap()) as usize;
            out.push((tag, at + SECTION_HEADER_BYTES, len));
            at += SECTION_HEADER_BYTES + len + 4;
        }
        out
    }

    /// Edits the payload of section `tag` and recomputes its CRC, so that deeper checks run.
    fn edit(bytes: &mut [u8], tag: &[u8; 4], f: impl FnOnce(&mut [u8])) {
        let (_, start, len) = sections(bytes).into_iter().find(|s| &s.0 == tag).unwrap();
        f(&mut bytes[start..start + len]);
        let crc = crc32fast::hash(&bytes[start - SECTION_HEADER_BYTES..start + len]);
        bytes[start + len..start + len + 4].copy_from_slice(&crc.to_le_bytes());
    }

    fn check(bytes: &[u8], want: &str) {
        let msg = decode(bytes, Path::new("cores.bin"))
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with("cores.bin") && msg.contains(want),
            "{msg:?} should mention {want:?}"
        );
    }

    #[test]
    fn decodes_what_it_encodes() {
        let c = config();
        let image = decode(&encoded(), Path::new("cores.bin")).unwrap();
        assert_eq!(image.cores, crate::FlatChip::from_config(&c).cores);
        assert_eq!(image.inputs, c.inputs);
        assert_eq!(image.placements, vec![vec![], vec![(0, 0), (0, 1), (0, 2)]]);
        // 3 synapses of 2 index bits + 9 weight bits = 33 bits -> 5 bytes.
        let syns = sections(&encoded())
            .into_iter()
            .find(|s| &s.0 == b"SYNS")
            .unwrap();
        assert_eq!(syns.2, 5);
    }

    #[test]
    fn structural_errors_name_the_field() {
        let good = encoded();
        let mut b = good.clone();
        b[0] = b'X';
        check(&b, "magic");
        let mut b = good.clone();
        b[8] = 1;
        check(&b, "version");
        let mut b = good.clone();
        b[24] = 10;
        check(&b, "header.crc32");
        let mut b = good.clone();
        b.push(0);
        check(&b, "unexpected bytes");
        let mut b = good.clone();
        edit(&mut b, b"CMPT", |p| p[COMPARTMENT_BYTES + 36] = 5);
        check(&b, "compartments[1].fanout_start");
        let mut b = good.clone();
        edit(&mut b, b"AXON", |p| p[2] = 2);
        check(&b, "axons[0].current");
        let mut b = good.clone();
        edit(&mut b, b"AXON", |p| p[AXON_BYTES + 8] = 9);
        check(&b, "AXON synapse counts");
        let mut b = good.clone();
        edit(&mut b, b"SYNS", |p| p[4] |= 0x80);
        check(&b, "padding");
        let mut b = good.clone();
        edit(&mut b, b"CORE", |p| p[32] = 3);
        check(&b, "index_bits");
        let mut b = good.clone();
        edit(&mut b, b"CORE", |p| p[12] = 200);
        check(&b, "200 compartments need 8");
        let mut b = good.clone();
        edit(&mut b, b"CORE", |p| p[16] = 200);
        check(&b, "section AXON: payload is 24 bytes; 200 records");
        let mut b = good.clone();
        edit(&mut b, b"INPT", |p| p[0] = 7);
        check(&b, "section INPT");
        let (_, start, _) = sections(&good)
            .into_iter()
            .find(|s| &s.0 == b"GRPS")
            .unwrap();
        let mut b = good.clone();
        b[start - 1] = 0xff;
        check(&b, "GRPS.length");
        let mut b = good.clone();
        b[start - 16] = b'Q';
        check(&b, "expected tag");
        check(&good[..good.len() - 1], "truncated");
    }

    /// Decodes that went through two halves.
    pub(super) static SPLITS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

    /// A chip of `n` cores of a few rows each (rows of 0 to 3 synapses), encoded.
    fn many_cores(n: u32) -> Vec<u8> {
        let mut c = config();
        let core = c.cores[0].clone();
        c.cores = (0..n)
            .map(|id| {
                let mut k = core.clone();
                k.id = id;
                k.x = id;
                for a in 0..(id % 5) {
                    k.axons.push(Axon {
                        group: (a % 2) as u16,
                        current: 1,
                        synapses: (0..(id + a) % 4)
                            .map(|j| Synapse {
                                compartment: j % 3,
                                weight: (id * 7 + a * 3 + j) as i32 % 200 - 100,
                            })
                            .collect(),
                    });
                }
                k
            })
            .collect();
        encode_config(&c)
    }

    /// Section `(tag, payload start, payload length)` of core `core`.
    fn section_of(bytes: &[u8], tag: &[u8; 4], core: u32) -> (usize, usize) {
        let mut seen = 0;
        for (t, start, len) in sections(bytes) {
            if &t == tag {
                if seen == core {
                    return (start, len);
                }
                seen += 1;
            }
        }
        panic!("no section {tag:?} of core {core}");
    }

    /// A decode's outcome as text: the image's content (not where its tables are), or the
    /// error, and the CRC.
    fn outcome(r: Result<(Result<CoresImage, ChipError>, u32), ChipError>) -> String {
        match r {
            Err(e) => format!("read error {e}"),
            Ok((Err(e), crc)) => format!("{e} / {crc:08x}"),
            Ok((Ok(image), crc)) => {
                let cores: Vec<_> = image
                    .cores
                    .iter()
                    .map(|c| {
                        (
                            c.id(),
                            c.x(),
                            c.compartments(),
                            c.axons().collect::<Vec<_>>(),
                        )
                    })
                    .collect();
                format!(
                    "{:?} {:?} {} {cores:?} / {crc:08x}",
                    image.inputs, image.placements, image.weight_field_bits
                )
            }
        }
    }

    /// The file decoded in halves on two and three threads gives what one pass gives: the
    /// image, or the first error with the whole file's CRC, whether the damage is in the first
    /// half, the second or on the walk between them.
    #[test]
    fn halves_decode_as_one_pass() {
        let good = many_cores(100);
        let mut cases: Vec<(&str, Vec<u8>)> = vec![("good", good.clone())];
        // A structural error (its section CRC made right) in the first half, in the second,
        // and in both.
        for (name, cores) in [
            ("first", vec![10]),
            ("second", vec![90]),
            ("both", vec![80, 20]),
        ] {
            let mut b = good.clone();
            for core in cores {
                let (start, len) = section_of(&b, b"AXON", core);
                b[start + 2] = 2;
                let crc = crc32fast::hash(&b[start - SECTION_HEADER_BYTES..start + len]);
                b[start + len..start + len + 4].copy_from_slice(&crc.to_le_bytes());
            }
            cases.push((name, b));
        }
        // Damage without a section CRC to match, in each half; a section length that derails
        // the walk to the middle; a file cut short.
        let mut b = good.clone();
        b[section_of(&good, b"SYNS", 95).0] ^= 1;
        cases.push(("damaged second", b));
        let mut b = good.clone();
        b[section_of(&good, b"FOUT", 3).0 + 1] ^= 4;
        cases.push(("damaged first", b));
        let mut b = good.clone();
        let (start, _) = section_of(&good, b"CMPT", 5);
        b[start - 8] ^= 0x10;
        cases.push(("length", b));
        cases.push(("truncated", good[..good.len() - 3].to_vec()));
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes) in cases {
            let path = dir.path().join("cores.bin");
            std::fs::write(&path, &bytes).unwrap();
            // The length the manifest gives: the good file's.
            let len = good.len() as u64;
            let want = outcome(decode_from(&bytes[..], len, &path, &[]));
            let splits = SPLITS.load(std::sync::atomic::Ordering::Relaxed);
            for threads in [1, 2, 3] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let got = pool.install(|| {
                    let file = File::open(&path).unwrap();
                    outcome(decode_file(file, &path, len, &[(3, 5); 100]))
                });
                assert_eq!(got, want, "{name}, {threads} threads");
            }
            // Every file whose walk to the middle holds went in halves (at 2 and 3 threads).
            let halves = SPLITS.load(std::sync::atomic::Ordering::Relaxed) - splits;
            let expected = if name == "length" { 0 } else { 2 };
            assert_eq!(halves, expected, "{name}: decodes in halves");
        }
    }
}
