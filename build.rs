//! Link flags of the shared library.

fn main() {
    // AWS-LC keeps per-thread state whose destructor lives in this library. If a host unloads
    // the module (`dlclose` after `C_Finalize`, as p11-kit and test harnesses do) that
    // destructor would run from unmapped memory when the thread exits. Marking the object
    // "nodelete" keeps its code mapped; a later `dlopen` reuses it and `C_Initialize` starts
    // afresh.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
}
