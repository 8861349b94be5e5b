// What the test host is, for the tests' `ignore` reasons (see
// cella-testsupport's host.rs).
#[path = "../cella-testsupport/src/host.rs"]
mod host;

fn main() {
    host::emit_cfgs();
}
