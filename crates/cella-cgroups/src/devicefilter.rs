//! The cgroup v2 device filter: OCI device rules compiled to an eBPF program
//! of type BPF_PROG_TYPE_CGROUP_DEVICE.
//!
//! The program sees `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major;
//! u32 minor; }`, where access_type is `access << 16 | type` (type: 1 block,
//! 2 char; access: 1 mknod, 2 read, 4 write), and returns 1 to allow. The last
//! matching rule wins, as with the v1 lists, so the rules are emitted in
//! reverse and the first match returns; nothing matching is denied.
//!
//! The program is shaped for the verifier, which runs at every start: one
//! branch on the type leads to the character rules or the block rules, so no
//! rule tests the type again, and a rule naming both numbers compares one
//! register holding `major << 20 | minor` (the kernel's dev_t: 12 and 20
//! bits) with one immediate. The default rules then verify in one pass over
//! the instructions (5 states) instead of 231 instructions and 25 states, and
//! a load takes a third of the time (see bench/lifecycle.sh --v2).

use cella_spec::resources::DeviceRule;

const LDX_W: u8 = 0x61; // dst = *(u32 *)(src + off)
const AND_K: u8 = 0x57; // dst &= imm
const RSH_K: u8 = 0x77; // dst >>= imm
const LSH_K: u8 = 0x67; // dst <<= imm
const OR_X: u8 = 0x4f; // dst |= src
const MOV_X: u8 = 0xbf; // dst = src
const MOV_K: u8 = 0xb7; // dst = imm
const JNE_K: u8 = 0x55; // if dst != imm goto +off
const EXIT: u8 = 0x95;

/// The largest major and minor a dev_t holds (`MINORBITS` is 20).
const MAX_MAJOR: i64 = (1 << 12) - 1;
const MAX_MINOR: i64 = (1 << 20) - 1;

/// Registers: r2 type, r3 access, r4 major, r5 minor, r6 the device as
/// `major << 20 | minor`; r1 scratch.
const TYPE: u8 = 2;
const ACCESS: u8 = 3;
const MAJOR: u8 = 4;
const MINOR: u8 = 5;
const DEVICE: u8 = 6;

/// One instruction as the kernel's 8-byte `struct bpf_insn` (little endian).
fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> u64 {
    u64::from(code)
        | (u64::from(dst & 0xf) << 8)
        | (u64::from(src & 0xf) << 12)
        | (u64::from(off as u16) << 16)
        | (u64::from(imm as u32) << 32)
}

fn prologue() -> Vec<u64> {
    vec![
        insn(LDX_W, TYPE, 1, 0, 0),
        insn(AND_K, TYPE, 0, 0, 0xffff),
        insn(LDX_W, ACCESS, 1, 0, 0),
        insn(RSH_K, ACCESS, 0, 0, 16),
        insn(LDX_W, MAJOR, 1, 4, 0),
        insn(LDX_W, MINOR, 1, 8, 0),
        insn(MOV_X, DEVICE, MAJOR, 0, 0),
        insn(LSH_K, DEVICE, 0, 0, 20),
        insn(OR_X, DEVICE, MINOR, 0, 0),
    ]
}

fn access_bits(access: Option<&str>) -> i32 {
    let a = access.filter(|a| !a.is_empty()).unwrap_or("rwm");
    a.chars().fold(0, |bits, c| {
        bits | match c {
            'm' => 1,
            'r' => 2,
            'w' => 4,
            _ => 0,
        }
    })
}

/// Which device types a rule covers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Char,
    Block,
}

fn covers(r: &DeviceRule, kind: Kind) -> bool {
    match r.kind.as_deref().unwrap_or("a") {
        "c" => kind == Kind::Char,
        "b" => kind == Kind::Block,
        _ => true,
    }
}

/// The checks of one rule; each failed check jumps past the block. None for
/// a rule whose numbers no device can have.
fn rule_block(r: &DeviceRule) -> Option<Vec<u64>> {
    let major = r.major.filter(|&m| m >= 0);
    let minor = r.minor.filter(|&m| m >= 0);
    if major.is_some_and(|m| m > MAX_MAJOR) || minor.is_some_and(|m| m > MAX_MINOR) {
        return None;
    }
    // Each check ends in a JNE whose offset (-1) means "past this block".
    let mut block = Vec::new();
    let bits = access_bits(r.access.as_deref());
    if bits != 7 {
        // Requested access must be a subset of the rule's: (access & ~bits) == 0.
        block.push(insn(MOV_X, 1, ACCESS, 0, 0));
        block.push(insn(AND_K, 1, 0, 0, !bits & 7));
        block.push(insn(JNE_K, 1, 0, -1, 0));
    }
    match (major, minor) {
        // JNE's immediate is sign-extended: one compare while bit 31 is clear.
        (Some(ma), Some(mi)) if ma << 20 | mi <= i64::from(i32::MAX) => {
            block.push(insn(JNE_K, DEVICE, 0, -1, (ma << 20 | mi) as i32));
        }
        (ma, mi) => {
            if let Some(m) = ma {
                block.push(insn(JNE_K, MAJOR, 0, -1, m as i32));
            }
            if let Some(m) = mi {
                block.push(insn(JNE_K, MINOR, 0, -1, m as i32));
            }
        }
    }
    block.push(insn(MOV_K, 0, 0, 0, i32::from(r.allow)));
    block.push(insn(EXIT, 0, 0, 0, 0));
    let len = block.len();
    for (i, w) in block.iter_mut().enumerate() {
        if (*w & 0xff) as u8 == JNE_K && ((*w >> 16) & 0xffff) as u16 == 0xffff {
            let off = (len - i - 1) as u16;
            *w = (*w & !(0xffff << 16)) | (u64::from(off) << 16);
        }
    }
    Some(block)
}

/// The rules for one device type, last first. A rule that matches everything
/// ends it: the verifier refuses unreachable instructions.
fn section(rules: &[DeviceRule], kind: Kind) -> Vec<u64> {
    let mut p = Vec::new();
    for block in rules.iter().rev().filter(|r| covers(r, kind)).filter_map(rule_block) {
        let unconditional = block.len() == 2;
        p.extend(block);
        if unconditional {
            return p;
        }
    }
    p.push(insn(MOV_K, 0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

/// The whole program for `rules` (in config order): character devices (type
/// 2) fall into their rules; anything else jumps to the block rules.
pub fn program(rules: &[DeviceRule]) -> Vec<u64> {
    let chars = section(rules, Kind::Char);
    let blocks = section(rules, Kind::Block);
    let mut p = prologue();
    p.push(insn(JNE_K, TYPE, 0, chars.len() as i16, 2));
    p.extend(chars);
    p.extend(blocks);
    p
}

/// Runs the program on one device access, as the kernel would (for tests).
pub fn evaluate(prog: &[u64], kind: char, major: u32, minor: u32, access: &str) -> bool {
    let t = if kind == 'b' { 1 } else { 2 };
    let ctx = [(access_bits(Some(access)) as u32) << 16 | t, major, minor];
    let mut r = [0i64; 11];
    let mut pc = 0;
    loop {
        let w = prog[pc];
        let (code, dst, src) = ((w & 0xff) as u8, ((w >> 8) & 0xf) as usize, ((w >> 12) & 0xf) as usize);
        let (off, imm) = (((w >> 16) & 0xffff) as u16 as i16, (w >> 32) as u32 as i32);
        pc += 1;
        match code {
            LDX_W => r[dst] = i64::from(ctx[off as usize / 4]),
            AND_K => r[dst] &= i64::from(imm),
            RSH_K => r[dst] >>= imm,
            LSH_K => r[dst] <<= imm,
            OR_X => r[dst] |= r[src],
            MOV_X => r[dst] = r[src],
            MOV_K => r[dst] = i64::from(imm),
            JNE_K if r[dst] != i64::from(imm) => pc = (pc as i64 + i64::from(off)) as usize,
            JNE_K => {}
            EXIT => return r[0] == 1,
            other => panic!("unexpected opcode {other:#x}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(allow: bool, kind: &str, major: i64, minor: i64, access: &str) -> DeviceRule {
        DeviceRule {
            allow,
            kind: Some(kind.into()),
            major: Some(major),
            minor: Some(minor),
            access: Some(access.into()),
        }
    }

    #[test]
    fn last_matching_rule_wins() {
        let rules = vec![
            DeviceRule {
                allow: false,
                access: Some("rwm".into()),
                ..Default::default()
            },
            rule(true, "c", -1, -1, "m"),
            rule(true, "c", 1, 3, "rwm"),
            rule(true, "c", 136, -1, "rw"),
            rule(false, "c", 136, 5, "w"),
        ];
        let p = program(&rules);
        assert!(evaluate(&p, 'c', 1, 3, "rw"));
        assert!(!evaluate(&p, 'c', 1, 5, "r"), "not allowed");
        assert!(evaluate(&p, 'c', 10, 229, "m"), "mknod of any char device");
        assert!(!evaluate(&p, 'b', 8, 0, "m"), "block devices not allowed");
        assert!(evaluate(&p, 'c', 136, 2, "rw"));
        assert!(
            !evaluate(&p, 'c', 136, 2, "rwm"),
            "the whole request must be covered by one rule"
        );
        assert!(!evaluate(&p, 'c', 136, 5, "w"), "a later deny wins");
        assert!(evaluate(&p, 'c', 136, 5, "r"));
    }

    #[test]
    fn nothing_follows_a_rule_that_matches_everything() {
        let deny_all = DeviceRule {
            allow: false,
            access: Some("rwm".into()),
            ..Default::default()
        };
        let p = program(&[deny_all.clone(), rule(true, "c", 1, 3, "rwm")]);
        // The prologue (9) and the type branch; for character devices the
        // 1:3 block (one compare, 2) and deny-all (2); for block devices
        // deny-all (2). No epilogue after either deny-all.
        assert_eq!(p.len(), 9 + 1 + 3 + 2 + 2);
        assert!(evaluate(&p, 'c', 1, 3, "r"));
        assert!(!evaluate(&p, 'c', 1, 5, "r"));
        assert!(!evaluate(&p, 'b', 1, 3, "r"));
    }

    /// The rules read as the OCI spec and the v1 lists read them: the last
    /// rule that covers the type, both numbers and the whole access decides;
    /// none denies.
    fn reference(rules: &[DeviceRule], kind: char, major: u32, minor: u32, access: &str) -> bool {
        let want = access_bits(Some(access));
        let matches = |r: &&DeviceRule| {
            let k = r.kind.as_deref().unwrap_or("a");
            (k == "a" || k.starts_with(kind))
                && r.major.is_none_or(|m| m < 0 || m == i64::from(major))
                && r.minor.is_none_or(|m| m < 0 || m == i64::from(minor))
                && want & !access_bits(r.access.as_deref()) == 0
        };
        rules.iter().rev().find(matches).is_some_and(|r| r.allow)
    }

    #[test]
    fn every_rule_set_reads_as_the_reference() {
        // Deterministic pseudo-random rule sets over numbers that collide,
        // wildcards, majors whose packed form sets bit 31, and numbers no
        // dev_t holds.
        let majors = [-1, 1, 5, 136, 2048, 4095, 4096];
        let minors = [-1, 0, 3, 5, 0xfffff, 0x100000];
        let kinds = [None, Some("a"), Some("c"), Some("b")];
        let accesses = [
            None,
            Some("r"),
            Some("w"),
            Some("m"),
            Some("rw"),
            Some("rwm"),
            Some("wm"),
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for _ in 0..400 {
            let rules: Vec<DeviceRule> = (0..next(7))
                .map(|_| DeviceRule {
                    allow: next(2) == 1,
                    kind: kinds[next(4)].map(str::to_string),
                    major: Some(majors[next(majors.len())]).filter(|_| next(5) != 0),
                    minor: Some(minors[next(minors.len())]).filter(|_| next(5) != 0),
                    access: accesses[next(accesses.len())].map(str::to_string),
                })
                .collect();
            let p = program(&rules);
            for kind in ['c', 'b'] {
                for major in [0, 1, 5, 136, 2048, 4095] {
                    for minor in [0, 3, 5, 0xfffff] {
                        for access in ["r", "w", "m", "rw", "rwm"] {
                            assert_eq!(
                                evaluate(&p, kind, major, minor, access),
                                reference(&rules, kind, major, minor, access),
                                "{kind} {major}:{minor} {access} under {rules:?}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn allow_all_then_nothing_else() {
        let p = program(&[DeviceRule {
            allow: true,
            ..Default::default()
        }]);
        assert!(evaluate(&p, 'b', 8, 0, "rwm"));
        let none = program(&[]);
        assert!(!evaluate(&none, 'c', 1, 3, "r"));
    }
}
