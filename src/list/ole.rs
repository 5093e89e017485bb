//! A bounds check of an OLE compound file (XLS, encrypted XLSX, Word) made
//! before calamine reads it. Calamine trusts the sector numbers, counts and
//! lengths in the file: it sizes buffers by them and follows sector chains
//! without looking for loops. A damaged or hostile file could make it ask
//! for terabytes, and the allocator then aborts the whole daemon, which no
//! panic guard catches; or it could loop until memory runs out.
//!
//! [`check`] walks every structure calamine walks (header, DIFAT, FAT,
//! directory, mini stream, each named stream), with bounds, and refuses a
//! file whose numbers point outside it. Anything calamine rejects cleanly
//! by itself (bad signature, bad sector shift) is left to calamine. Pure:
//! bytes in, a verdict out; it never decides what the file is.

/// Sector numbers with a meaning (MS-CFB 2.1).
const ENDOFCHAIN: u32 = 0xFFFF_FFFE;
const DIFSECT: u32 = 0xFFFF_FFFC;
/// Calamine follows DIFAT sectors while the next number is below this.
const RESERVED: u32 = 0xFFFF_FFFA;
const SIGNATURE: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
const DIR_ENTRY: usize = 128;
const MINI_SECTOR: usize = 64;
/// Streams shorter than this live in the mini stream.
const MINI_CUTOFF: usize = 4096;
/// Calamine reserves room for as many DIFAT entries as a header field it
/// reads across two others says (bytes 62..66); a real file gives a few
/// hundred thousand at most.
const MAX_DIFAT_RESERVE: u64 = 1 << 24;

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u32s(b: &[u8]) -> Result<impl Iterator<Item = u32> + '_, String> {
    if b.len() % 4 != 0 {
        return Err("a table of the file is cut short".into());
    }
    Ok(b.chunks_exact(4).map(|c| u32_at(c, 0)))
}

/// The file's sectors after the header.
struct Sectors<'a> {
    body: &'a [u8],
    size: usize,
}

impl Sectors<'_> {
    /// How many sectors the file holds (the last may be short).
    fn count(&self) -> u64 {
        self.body.len().div_ceil(self.size) as u64
    }

    fn get(&self, id: u32) -> Result<&[u8], String> {
        if u64::from(id) >= self.count() {
            return Err(format!("it points to sector {id}, past its end"));
        }
        let start = id as usize * self.size;
        Ok(&self.body[start..(start + self.size).min(self.body.len())])
    }
}

/// Follows a chain from `start` through `table` the way calamine does
/// (until ENDOFCHAIN), refusing numbers at or past `limit` (calamine would
/// allocate up to them) and loops. Returns the sector numbers. A number
/// past the table's end stops the walk: calamine panics there, under its
/// guard, after a bounded allocation.
fn chain(start: u32, table: &[u32], limit: u64, what: &str) -> Result<Vec<u32>, String> {
    let mut ids = Vec::new();
    let mut id = start;
    while id != ENDOFCHAIN {
        if u64::from(id) >= limit {
            return Err(format!("the {what} points to sector {id}, past its end"));
        }
        if ids.len() as u64 >= limit {
            return Err(format!("the {what} loops"));
        }
        ids.push(id);
        match table.get(id as usize) {
            Some(next) => id = *next,
            None => break,
        }
    }
    Ok(ids)
}

/// Whether calamine can read this compound file without unbounded memory
/// or time; `Err` says what is wrong with it.
pub(crate) fn check(data: &[u8]) -> Result<(), String> {
    if data.len() < 512 || data[..8] != SIGNATURE {
        return Ok(());
    }
    let size = match u16_at(data, 30) {
        9 => 512,
        12 => 4096,
        _ => return Ok(()),
    };
    if u16_at(data, 32) != 6 || data.len() < size {
        return Ok(());
    }
    let version = u16_at(data, 26);
    let sectors = Sectors {
        body: &data[size..],
        size,
    };
    let n = sectors.count();
    let dir_len = u64::from(u32_at(data, 40));
    let fat_len = u64::from(u32_at(data, 44));
    let dir_start = u32_at(data, 48);
    let mini_fat_start = u32_at(data, 60);
    let mini_fat_len = u64::from(u32_at(data, 64));
    let difat_start = u32_at(data, 68);
    if dir_len > n || fat_len > n || mini_fat_len > n {
        return Err("its header counts more sectors than the file holds".into());
    }
    if u64::from(u32_at(data, 62)) > MAX_DIFAT_RESERVE {
        return Err("its header is damaged".into());
    }

    // The DIFAT: 109 entries in the header, then a chain of sectors whose
    // last entry names the next one.
    let mut difat: Vec<u32> = u32s(&data[76..512])?.collect();
    let mut id = difat_start;
    let mut steps = 0u64;
    while id < RESERVED {
        steps += 1;
        if steps > n {
            return Err("its sector allocation table loops".into());
        }
        difat.extend(u32s(sectors.get(id)?)?);
        id = difat.pop().unwrap_or(ENDOFCHAIN);
    }
    let fat_sectors: Vec<u32> = difat.into_iter().filter(|id| *id < DIFSECT).collect();
    if fat_sectors.len() as u64 > n {
        return Err("its sector allocation table is larger than the file".into());
    }
    let mut fat = Vec::new();
    for id in fat_sectors {
        fat.extend(u32s(sectors.get(id)?)?);
    }

    // The directory.
    let mut dir = Vec::new();
    for id in chain(dir_start, &fat, n, "directory")? {
        dir.extend_from_slice(sectors.get(id)?);
    }
    if dir_len > 0 {
        dir.truncate((dir_len as usize) * size);
    }
    if dir.len() % DIR_ENTRY != 0 {
        return Err("its directory is cut short".into());
    }
    let entries: Vec<&[u8]> = dir.chunks_exact(DIR_ENTRY).collect();
    let Some(root) = entries.first() else {
        return Ok(());
    };
    let start_of = |e: &[u8]| u32_at(e, 116);
    let len_of = |e: &[u8]| -> u64 {
        if size == 512 {
            u64::from(u32_at(e, 120))
        } else {
            u64::from(u32_at(e, 120)) | (u64::from(u32_at(e, 124)) << 32)
        }
    };
    if version != 3 && start_of(root) == ENDOFCHAIN {
        return Ok(());
    }
    let too_long = |len: u64| len > sectors.body.len() as u64;

    // The mini stream (small streams, in 64-byte sectors) and its table.
    let (mini_fat, mini_len) = if mini_fat_len > 0 {
        if too_long(len_of(root)) {
            return Err("its root entry is longer than the file".into());
        }
        let mut stream_len = 0u64;
        for id in chain(start_of(root), &fat, n, "mini stream")? {
            stream_len += sectors.get(id)?.len() as u64;
        }
        let mut table = Vec::new();
        for id in chain(mini_fat_start, &fat, n, "mini sector table")? {
            table.extend_from_slice(sectors.get(id)?);
        }
        table.truncate((mini_fat_len as usize) * size);
        let mini_fat: Vec<u32> = u32s(&table)?.collect();
        (mini_fat, stream_len.min(len_of(root)))
    } else {
        (Vec::new(), 0)
    };
    let mini_limit = mini_len.div_ceil(MINI_SECTOR as u64).max(1);

    // Every named entry: calamine opens streams by name.
    for e in entries.iter().skip(1) {
        if e[0] == 0 && e[1] == 0 {
            continue;
        }
        let len = len_of(e);
        if too_long(len) {
            return Err("a stream is longer than the file".into());
        }
        if len < MINI_CUTOFF as u64 {
            chain(start_of(e), &mini_fat, mini_limit, "mini stream")?;
        } else {
            chain(start_of(e), &fat, n, "stream")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version 3 compound file: header, one FAT sector (sector 0), one
    /// directory sector (sector 1) holding the root and a "Workbook" stream.
    fn minimal(workbook_start: u32, workbook_len: u32, fat_next: u32) -> Vec<u8> {
        let mut f = vec![0u8; 512 * 3];
        f[..8].copy_from_slice(&SIGNATURE);
        f[26] = 3; // version
        f[28..30].copy_from_slice(&0xFFFEu16.to_le_bytes()); // byte order
        f[30] = 9; // 512-byte sectors
        f[32] = 6; // 64-byte mini sectors
        f[44..48].copy_from_slice(&1u32.to_le_bytes()); // one FAT sector
        f[48..52].copy_from_slice(&1u32.to_le_bytes()); // directory at 1
        f[60..64].copy_from_slice(&ENDOFCHAIN.to_le_bytes()); // no mini FAT
        f[68..72].copy_from_slice(&ENDOFCHAIN.to_le_bytes()); // no DIFAT chain
        for i in 0..109 {
            let v = if i == 0 { 0 } else { 0xFFFF_FFFF };
            f[76 + 4 * i..80 + 4 * i].copy_from_slice(&u32::to_le_bytes(v));
        }
        // FAT (sector 0 at offset 512): 0 = FATSECT, 1 = end of chain, 2 = fat_next.
        let fat = &mut f[512..1024];
        fat.fill(0xFF);
        fat[0..4].copy_from_slice(&0xFFFF_FFFDu32.to_le_bytes());
        fat[4..8].copy_from_slice(&ENDOFCHAIN.to_le_bytes());
        fat[8..12].copy_from_slice(&fat_next.to_le_bytes());
        // Directory (sector 1 at offset 1024).
        let dir = &mut f[1024..1536];
        for (i, c) in "Root Entry".encode_utf16().enumerate() {
            dir[2 * i..2 * i + 2].copy_from_slice(&c.to_le_bytes());
        }
        dir[66] = 5;
        dir[116..120].copy_from_slice(&ENDOFCHAIN.to_le_bytes());
        let wb = &mut dir[128..256];
        for (i, c) in "Workbook".encode_utf16().enumerate() {
            wb[2 * i..2 * i + 2].copy_from_slice(&c.to_le_bytes());
        }
        wb[66] = 2;
        wb[116..120].copy_from_slice(&workbook_start.to_le_bytes());
        wb[120..124].copy_from_slice(&workbook_len.to_le_bytes());
        f
    }

    #[test]
    fn a_sound_file_passes() {
        assert_eq!(check(&minimal(ENDOFCHAIN, 0, ENDOFCHAIN)), Ok(()));
    }

    #[test]
    fn not_a_compound_file_is_left_to_calamine() {
        assert_eq!(check(b"PK\x03\x04 not ole"), Ok(()));
        assert_eq!(check(&[0u8; 600]), Ok(()));
    }

    #[test]
    fn a_stream_past_the_end_is_refused() {
        // Mini sector 60 million: calamine would allocate about 4 GB for it.
        let f = minimal(60_000_000, 100, ENDOFCHAIN);
        assert!(check(&f).unwrap_err().contains("past its end"));
    }

    #[test]
    fn a_stream_chain_that_loops_is_refused() {
        // Workbook starts at sector 2, whose FAT entry points to itself.
        let mut f = minimal(2, 4096, 2);
        f.extend_from_slice(&[0u8; 512 * 8]);
        assert!(check(&f).unwrap_err().contains("loops"));
    }

    #[test]
    fn a_stream_longer_than_the_file_is_refused() {
        let mut f = minimal(2, u32::MAX, ENDOFCHAIN);
        f.extend_from_slice(&[0u8; 512]);
        assert!(check(&f).is_err());
    }

    #[test]
    fn a_header_counting_more_sectors_than_the_file_is_refused() {
        let mut f = minimal(ENDOFCHAIN, 0, ENDOFCHAIN);
        f[44..48].copy_from_slice(&0x4000_0000u32.to_le_bytes());
        assert!(check(&f).is_err());
    }
}
