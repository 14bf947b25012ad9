//! `pharos cert`: a cluster CA and the certificates it signs, for TLS on both ports
//! (docs/security.md, "TLS"). Files only; nothing here talks to a node.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

/// The CA's subject. `issue` signs under this name with the key in `ca.key`, so certificates
/// chain to the `ca.pem` that `init` wrote with the same key.
const CA_COMMON_NAME: &str = "Pharos cluster CA";

#[derive(Debug, clap::Subcommand)]
pub enum CertCommand {
    /// Create a cluster CA: `ca.pem` (give it to every node and client) and `ca.key` (keep it
    /// off the nodes).
    Init {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Issue `NAME.pem` and `NAME.key`, signed by the CA in `--dir`, valid for both server and
    /// client authentication.
    Issue {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        name: String,
        /// IP addresses in the certificate (repeat or comma separate): the hosts of the node's
        /// advertised addresses.
        #[arg(long, value_delimiter = ',')]
        ip: Vec<std::net::IpAddr>,
        /// DNS names in the certificate.
        #[arg(long, value_delimiter = ',')]
        dns: Vec<String>,
    },
}

pub fn run(command: CertCommand) -> anyhow::Result<ExitCode> {
    match command {
        CertCommand::Init { dir } => {
            let written = init(&dir)?;
            println!("wrote {}", written.iter().map(|path| path.display().to_string()).collect::<Vec<_>>().join(", "));
        }
        CertCommand::Issue { dir, name, ip, dns } => {
            let written = issue(&dir, &name, &ip, &dns)?;
            println!("wrote {}", written.iter().map(|path| path.display().to_string()).collect::<Vec<_>>().join(", "));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, CA_COMMON_NAME);
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    params
}

/// Writes `ca.pem` and `ca.key` in `dir`; refuses to overwrite a CA.
pub fn init(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (cert_path, key_path) = (dir.join("ca.pem"), dir.join("ca.key"));
    anyhow::ensure!(!cert_path.exists() && !key_path.exists(), "{} already holds a CA", dir.display());
    let key = KeyPair::generate().context("generating the CA key")?;
    let cert = ca_params().self_signed(&key).context("signing the CA")?;
    write_private(&key_path, &key.serialize_pem())?;
    std::fs::write(&cert_path, cert.pem()).with_context(|| format!("writing {}", cert_path.display()))?;
    Ok(vec![cert_path, key_path])
}

/// Writes `NAME.pem` and `NAME.key` in `dir`, signed by the CA there. Overwrites an older
/// certificate of the same name: that is how a node's certificate is rotated.
pub fn issue(dir: &Path, name: &str, ips: &[std::net::IpAddr], dns: &[String]) -> anyhow::Result<Vec<PathBuf>> {
    anyhow::ensure!(!name.is_empty() && !name.contains(['/', '\\']), "--name must be a plain file name");
    anyhow::ensure!(!ips.is_empty() || !dns.is_empty(), "give at least one --ip or --dns");
    let ca_key_path = dir.join("ca.key");
    let ca_key_pem =
        std::fs::read_to_string(&ca_key_path).with_context(|| format!("reading {}", ca_key_path.display()))?;
    let ca_key = KeyPair::from_pem(&ca_key_pem).with_context(|| format!("parsing {}", ca_key_path.display()))?;
    let issuer = Issuer::new(ca_params(), ca_key);

    let mut params = CertificateParams::default();
    let mut subject = DistinguishedName::new();
    subject.push(DnType::CommonName, name);
    params.distinguished_name = subject;
    params.subject_alt_names = ips.iter().map(|ip| SanType::IpAddress(*ip)).collect();
    for name in dns {
        params.subject_alt_names.push(SanType::DnsName(name.clone().try_into().context("a --dns name")?));
    }
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    // A random serial, so a reissued certificate is told apart from the one it replaces.
    params.serial_number = Some(rcgen::SerialNumber::from_slice(uuid::Uuid::new_v4().as_bytes()));
    let key = KeyPair::generate().context("generating the key")?;
    let cert = params.signed_by(&key, &issuer).context("signing the certificate")?;
    let (cert_path, key_path) = (dir.join(format!("{name}.pem")), dir.join(format!("{name}.key")));
    // Key first: a node reloading between the two writes sees a mismatch and keeps its old pair.
    write_private(&key_path, &key.serialize_pem())?;
    std::fs::write(&cert_path, cert.pem()).with_context(|| format!("writing {}", cert_path.display()))?;
    Ok(vec![cert_path, key_path])
}

/// Writes `text` to `path` readable by its owner only (mode 0600), also when it existed.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("restricting {}", path.display()))?;
    file.write_all(text.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
