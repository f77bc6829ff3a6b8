//! The CA's leaves work in a real rustls mutual-TLS handshake over loopback: the server certificate
//! for a wildcard name is trusted through `ca.pem` alone, and the server reads the client's
//! identity back from the presented certificate.
#![allow(clippy::unwrap_used)]

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

use airlock_pki::{Ca, apigateway_identity, identity_of};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots_from_ca_file(ca: &Ca) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca.ca_path()).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    roots
}

#[test]
fn mutual_tls_over_loopback_with_wildcard_server_and_identity_client() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::load_or_create(dir.path()).unwrap();
    let server_leaf = ca.issue_server(&["*.example.com".to_owned()]).unwrap();
    let identity = apigateway_identity("000000000000", "pets-link");
    let client_leaf = ca.issue_client(&identity).unwrap();

    let roots = Arc::new(roots_from_ca_file(&ca));
    let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
        .build()
        .unwrap();
    let server_config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(server_leaf.cert_chain.clone(), server_leaf.key.clone_key())
        .unwrap();
    let client_config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(client_leaf.cert_chain.clone(), client_leaf.key.clone_key())
        .unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let conn = rustls::ServerConnection::new(Arc::new(server_config)).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf).unwrap();
        let peer = tls.conn.peer_certificates().unwrap()[0].clone();
        let seen = identity_of(&peer).unwrap();
        tls.write_all(seen.as_bytes()).unwrap();
        tls.conn.send_close_notify();
        tls.flush().unwrap();
        buf
    });

    let name = ServerName::try_from("private-integration.example.com").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(client_config), name).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, TcpStream::connect(addr).unwrap());
    tls.write_all(b"ping").unwrap();
    let mut reply = String::new();
    tls.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, identity);
    assert_eq!(&server.join().unwrap(), b"ping");
}

#[test]
fn server_name_outside_the_wildcard_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::load_or_create(dir.path()).unwrap();
    let leaf = ca.issue_server(&["*.example.com".to_owned()]).unwrap();
    let server_config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(leaf.cert_chain, leaf.key)
        .unwrap();
    let client_config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots_from_ca_file(&ca))
        .with_no_client_auth();

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let conn = rustls::ServerConnection::new(Arc::new(server_config)).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let mut buf = [0u8; 1];
        // The client aborts the handshake; the server sees an error or EOF, never data.
        assert!(!matches!(tls.read(&mut buf), Ok(n) if n > 0));
    });

    let name = ServerName::try_from("example.com").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(client_config), name).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, TcpStream::connect(addr).unwrap());
    let err = tls.write_all(b"x").and_then(|()| tls.flush()).unwrap_err();
    assert!(err.to_string().contains("not valid for name"), "{err}");
    drop(tls);
    server.join().unwrap();
}
