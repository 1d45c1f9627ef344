//! The README's PyTorch snippet builds the activation a checkpoint names,
//! for every activation the MLP models accept (PyTorch itself is not
//! needed: the snippet's table is checked against the torch module each
//! activation is, as `ebm_core::Activation` documents them).

use ebm_core::Activation;

/// The torch module each activation is.
fn torch_module(name: &str) -> &'static str {
    match name {
        "softplus" => "torch.nn.Softplus",
        "tanh" => "torch.nn.Tanh",
        "silu" => "torch.nn.SiLU",
        "gelu-tanh" => "lambda: torch.nn.GELU(approximate=\"tanh\")",
        "relu" => "torch.nn.ReLU",
        other => panic!("activation `{other}` has no torch module in this test: add it here and to the README"),
    }
}

#[test]
fn the_pytorch_snippet_maps_every_activation() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let section = readme.split("## The `ebm` command line and PyTorch interop").nth(1).expect("the CLI section");
    let snippet = section.split("```python").nth(1).and_then(|s| s.split("```").next()).expect("the snippet");
    for name in Activation::ALL.map(Activation::name) {
        let entry = format!("\"{name}\": {}", torch_module(name));
        assert!(snippet.contains(&entry), "the README snippet lacks `{entry}`:\n{snippet}");
    }
    assert!(snippet.contains("make_act()"), "the snippet does not use the mapped activation:\n{snippet}");
    assert!(!snippet.contains("[torch.nn.Softplus()]"), "the snippet still hard-codes Softplus");
}
