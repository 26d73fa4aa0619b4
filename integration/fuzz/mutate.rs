//! Deterministic structured mutations of a JSON document: from a seed, pick fields anywhere in
//! the tree and remove them, give them the wrong type, empty them, make them huge or give them
//! a value no enum has.

use serde_json::{json, Value};

/// xorshift64*: small, deterministic, good enough to pick mutations.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // splitmix64 of the seed, so that neighbouring seeds start far apart (and never at 0).
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// What was done to one field, for the failure report.
#[derive(Debug, Clone)]
pub struct Mutation {
    pub pointer: String,
    pub what: String,
}

/// Every JSON pointer in `v` (the root excluded), parents before children.
pub fn pointers(v: &Value) -> Vec<String> {
    fn walk(v: &Value, at: &str, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                    out.push(p.clone());
                    walk(child, &p, out);
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    let p = format!("{at}/{i}");
                    out.push(p.clone());
                    walk(child, &p, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, "", &mut out);
    out
}

/// A replacement value, made from the old one.
type Replace = fn(&Value) -> Value;

/// Values of the wrong type, empty values, huge values and values no enum has.
fn replacement(rng: &mut Rng, old: &Value) -> (Value, &'static str) {
    let huge_string = || Value::String("a".repeat(100_000));
    let choices: [(&str, Replace); 22] = [
        ("null", |_| Value::Null),
        ("true", |_| json!(true)),
        ("zero", |_| json!(0)),
        ("minus one", |_| json!(-1)),
        ("i64::MIN", |_| json!(i64::MIN)),
        ("u64::MAX", |_| json!(u64::MAX)),
        ("huge float", |_| json!(1e300)),
        ("fraction", |_| json!(0.5)),
        ("empty string", |_| json!("")),
        ("empty array", |_| json!([])),
        ("empty object", |_| json!({})),
        ("bad enum", |_| json!("BOGUS_VALUE")),
        ("NUL", |_| json!("\u{0}")),
        ("NUL inside", |_| json!("A=b\u{0}c")),
        ("no equals", |_| json!("NOEQUALS")),
        ("empty key", |_| json!("=value")),
        ("relative path", |_| json!("relative/path")),
        ("dot-dot path", |_| json!("../../escape")),
        ("array of strings", |_| json!(["x", ""])),
        ("object", |_| json!({"unexpected": 1})),
        ("same, wrapped in an array", |old| json!([old])),
        ("repeated 1000 times", |old| {
            Value::Array(std::iter::repeat_n(old.clone(), 1000).collect())
        }),
    ];
    if rng.below(23) == 22 {
        return (huge_string(), "100000-byte string");
    }
    let (name, f) = rng.pick(&choices);
    (f(old), name)
}

/// Applies 1 to 3 mutations to `config`, never under a pointer in `protected` (or a parent of
/// one: removing `/linux` removes its namespaces too).
pub fn mutate(rng: &mut Rng, config: &mut Value, protected: &[&str]) -> Vec<Mutation> {
    let n = 1 + rng.below(3);
    let mut done = Vec::new();
    for _ in 0..n {
        let candidates: Vec<String> = pointers(config)
            .into_iter()
            .filter(|p| {
                !protected
                    .iter()
                    .any(|q| p.starts_with(q) || q.starts_with(&format!("{p}/")) || p == q)
            })
            .collect();
        if candidates.is_empty() {
            break;
        }
        let pointer = rng.pick(&candidates).clone();
        let (parent_ptr, key) = pointer.rsplit_once('/').unwrap();
        let old = config.pointer(&pointer).cloned().unwrap_or(Value::Null);
        let what = if rng.below(5) == 0 {
            match config.pointer_mut(parent_ptr) {
                Some(Value::Object(map)) => {
                    map.remove(&key.replace("~1", "/").replace("~0", "~"));
                }
                Some(Value::Array(items)) => {
                    items.remove(key.parse::<usize>().unwrap());
                }
                _ => {}
            }
            "removed".to_string()
        } else {
            let (value, name) = replacement(rng, &old);
            *config.pointer_mut(&pointer).unwrap() = value;
            name.to_string()
        };
        done.push(Mutation { pointer, what });
    }
    done
}
