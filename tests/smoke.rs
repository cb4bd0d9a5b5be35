mod common;

#[test]
fn library_loads_and_reports_2_40_through_the_function_list() {
    let list = common::raw();
    assert_eq!((list.version.major, list.version.minor), (2, 40));
    let info = common::pkcs11().get_library_info().unwrap();
    assert_eq!(info.manufacturer_id(), "kms-pkcs11");
}
