//! The cgroup v2 device filter: OCI device rules compiled to an eBPF program
//! of type BPF_PROG_TYPE_CGROUP_DEVICE.
//!
//! The program sees `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major;
//! u32 minor; }`, where access_type is `access << 16 | type` (type: 1 block,
//! 2 char; access: 1 mknod, 2 read, 4 write), and returns 1 to allow. The last
//! matching rule wins, as with the v1 lists, so the rules are emitted in
//! reverse and the first match returns; nothing matching is denied.

use cella_spec::resources::DeviceRule;

const LDX_W: u8 = 0x61; // dst = *(u32 *)(src + off)
const AND_K: u8 = 0x57; // dst &= imm
const RSH_K: u8 = 0x77; // dst >>= imm
const MOV_X: u8 = 0xbf; // dst = src
const MOV_K: u8 = 0xb7; // dst = imm
const JNE_K: u8 = 0x55; // if dst != imm goto +off
const EXIT: u8 = 0x95;

/// One instruction as the kernel's 8-byte `struct bpf_insn` (little endian).
fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> u64 {
    u64::from(code)
        | (u64::from(dst & 0xf) << 8)
        | (u64::from(src & 0xf) << 12)
        | (u64::from(off as u16) << 16)
        | (u64::from(imm as u32) << 32)
}

/// Registers: r2 type, r3 access, r4 major, r5 minor; r1 scratch.
fn prologue() -> Vec<u64> {
    vec![
        insn(LDX_W, 2, 1, 0, 0),
        insn(AND_K, 2, 0, 0, 0xffff),
        insn(LDX_W, 3, 1, 0, 0),
        insn(RSH_K, 3, 0, 0, 16),
        insn(LDX_W, 4, 1, 4, 0),
        insn(LDX_W, 5, 1, 8, 0),
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

/// The checks of one rule; each failed check jumps past the block.
fn rule_block(r: &DeviceRule) -> Vec<u64> {
    // Conditions as (register or scratch computation, immediate); -1 = next block.
    let mut checks: Vec<Vec<u64>> = Vec::new();
    match r.kind.as_deref().unwrap_or("a") {
        "c" => checks.push(vec![insn(JNE_K, 2, 0, -1, 2)]),
        "b" => checks.push(vec![insn(JNE_K, 2, 0, -1, 1)]),
        _ => {}
    }
    let bits = access_bits(r.access.as_deref());
    if bits != 7 {
        // Requested access must be a subset of the rule's: (access & ~bits) == 0.
        checks.push(vec![
            insn(MOV_X, 1, 3, 0, 0),
            insn(AND_K, 1, 0, 0, !bits & 7),
            insn(JNE_K, 1, 0, -1, 0),
        ]);
    }
    if let Some(m) = r.major.filter(|&m| m >= 0) {
        checks.push(vec![insn(JNE_K, 4, 0, -1, m as i32)]);
    }
    if let Some(m) = r.minor.filter(|&m| m >= 0) {
        checks.push(vec![insn(JNE_K, 5, 0, -1, m as i32)]);
    }
    let mut block: Vec<u64> = checks.into_iter().flatten().collect();
    block.push(insn(MOV_K, 0, 0, 0, i32::from(r.allow)));
    block.push(insn(EXIT, 0, 0, 0, 0));
    // Resolve the "next block" jumps: to just past this block.
    let len = block.len();
    for (i, w) in block.iter_mut().enumerate() {
        if (*w & 0xff) as u8 == JNE_K && ((*w >> 16) & 0xffff) as u16 == 0xffff {
            let off = (len - i - 1) as u16;
            *w = (*w & !(0xffff << 16)) | (u64::from(off) << 16);
        }
    }
    block
}

/// The whole program for `rules` (in config order). A rule that matches
/// everything ends it: the verifier refuses unreachable instructions.
pub fn program(rules: &[DeviceRule]) -> Vec<u64> {
    let mut p = prologue();
    for r in rules.iter().rev() {
        let block = rule_block(r);
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
        // prologue, the c 1:3 block (4 checks + 2), the deny-all block (2): no epilogue.
        assert_eq!(p.len(), 6 + 5 + 2);
        assert!(evaluate(&p, 'c', 1, 3, "r"));
        assert!(!evaluate(&p, 'c', 1, 5, "r"));
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
