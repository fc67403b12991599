//! David Bau's `seedrandom` 2.4.4 ARC4 generator, the Playground's `Math.random`.
//!
//! The page calls `Math.seedrandom(seed)` with the seed string from its URL, after which
//! every `Math.random()` is a draw from this generator. Reproducing it exactly is what makes
//! the data, the shuffle and the initial weights match the page.

const WIDTH: u32 = 256;
const MASK: u32 = WIDTH - 1;
/// 2^48: six RC4 bytes form the first numerator.
const START_DENOM: f64 = 281_474_976_710_656.0;
/// 2^52: the numerator is filled up to this many significant bits.
const SIGNIFICANCE: f64 = 4_503_599_627_370_496.0;
/// 2^53.
const OVERFLOW: f64 = 9_007_199_254_740_992.0;

/// The ARC4 (`RC4-drop[256]`) generator of seedrandom 2.4.4, keyed by a seed string.
///
/// ```
/// use backprop_playground::Arc4Random;
///
/// let mut rng = Arc4Random::new("hello.");
/// assert_eq!(rng.next_f64(), 0.9282578795792454); // seedrandom's published example
/// ```
#[derive(Debug, Clone)]
pub struct Arc4Random {
    i: u8,
    j: u8,
    s: [u8; 256],
}

impl Arc4Random {
    /// The generator `seedrandom(seed)` builds: the seed's UTF-16 code units are smeared
    /// into a key of at most 256 bytes (`key[j & 255] = 255 & ((smear ^= key[j & 255] * 19)
    /// + code(j))`), the key schedules an RC4 state, and the first 256 bytes are dropped.
    pub fn new(seed: &str) -> Self {
        let mut key: Vec<u32> = Vec::new();
        let mut smear: u32 = 0;
        for (j, unit) in seed.encode_utf16().enumerate() {
            let slot = j & MASK as usize;
            // JavaScript reads `key[slot]` as undefined (0 after `^=`) until it is written.
            let previous = key.get(slot).copied().unwrap_or(0);
            smear ^= previous * 19;
            let value = MASK & (smear.wrapping_add(u32::from(unit)));
            if slot < key.len() {
                key[slot] = value;
            } else {
                key.push(value);
            }
        }
        if key.is_empty() {
            key.push(0);
        }
        let mut s = [0u8; 256];
        for (i, v) in s.iter_mut().enumerate() {
            *v = i as u8;
        }
        let mut j: u32 = 0;
        for i in 0..WIDTH as usize {
            let t = s[i];
            j = MASK & (j + key[i % key.len()] + u32::from(t));
            s[i] = s[j as usize];
            s[j as usize] = t;
        }
        let mut rng = Arc4Random { i: 0, j: 0, s };
        rng.bytes(WIDTH as usize);
        rng
    }

    /// seedrandom's `arc4.g(count)`: the next `count` RC4 bytes as one big-endian number.
    fn bytes(&mut self, count: usize) -> f64 {
        let mut r = 0.0;
        for _ in 0..count {
            r = r * f64::from(WIDTH) + f64::from(self.byte());
        }
        r
    }

    fn byte(&mut self) -> u8 {
        self.i = self.i.wrapping_add(1);
        let t = self.s[self.i as usize];
        self.j = self.j.wrapping_add(t);
        self.s[self.i as usize] = self.s[self.j as usize];
        self.s[self.j as usize] = t;
        self.s[self.s[self.i as usize].wrapping_add(t) as usize]
    }

    /// The next double in [0, 1), exactly as seedrandom's `prng()`: six bytes give a
    /// numerator over 2^48, more bytes are appended until it has 52 significant bits, then
    /// it is halved (with the extra byte) until below 2^53, and divided by its denominator.
    pub fn next_f64(&mut self) -> f64 {
        let mut n = self.bytes(6);
        let mut d = START_DENOM;
        let mut x: u32 = 0;
        while n < SIGNIFICANCE {
            n = (n + f64::from(x)) * f64::from(WIDTH);
            d *= f64::from(WIDTH);
            x = self.bytes(1) as u32;
        }
        while n >= OVERFLOW {
            n /= 2.0;
            d /= 2.0;
            x >>= 1;
        }
        (n + f64::from(x)) / d
    }

    /// seedrandom's `prng.quick()`: 32 random bits as a double in [0, 1).
    pub fn next_quick(&mut self) -> f64 {
        self.bytes(4) / 4_294_967_296.0
    }

    /// seedrandom's `prng.int32()`: 32 random bits as a signed integer.
    pub fn next_i32(&mut self) -> i32 {
        self.bytes(4) as u32 as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_seedrandoms_published_examples() {
        // README of seedrandom 2.4.4: Math.seedrandom('hello.') then two Math.random() calls,
        // and `myrng()`, `myrng.quick()`, `myrng.int32()` on a fresh 'hello.' generator.
        let mut rng = Arc4Random::new("hello.");
        assert_eq!(rng.next_f64(), 0.9282578795792454);
        assert_eq!(rng.next_f64(), 0.3752569768646784);
        let mut rng = Arc4Random::new("hello.");
        assert_eq!(rng.next_f64(), 0.9282578795792454);
        assert_eq!(rng.next_quick(), 0.3752569768112153);
        assert_eq!(rng.next_i32(), 986220731);
    }

    #[test]
    fn draws_lie_in_the_unit_interval_and_depend_on_the_seed() {
        let mut a = Arc4Random::new("0.12345");
        let mut b = Arc4Random::new("0.12346");
        let mut differ = false;
        for _ in 0..1000 {
            let (x, y) = (a.next_f64(), b.next_f64());
            assert!((0.0..1.0).contains(&x));
            differ |= x != y;
        }
        assert!(differ);
    }

    #[test]
    fn empty_seed_is_the_key_zero() {
        // seedrandom treats the empty key [] as [0]; a one-character seed "\0" smears to
        // the same key byte 0.
        let mut a = Arc4Random::new("");
        let mut b = Arc4Random::new("\0");
        assert_eq!(a.next_f64(), b.next_f64());
    }
}
