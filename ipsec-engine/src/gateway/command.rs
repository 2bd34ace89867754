//! IOS exec commands (show, clear, debug, diagnose) answered from a [`Tunnels`].

use super::Tunnels;
use crate::control::{Command, CommandId, ControlReply};
use crate::outputs::{DebugKind, Outputs};
use ipsec_proto::time::Instant;
use ipsec_proto::tunnel::Show;

/// The show a command asks for, if it is one.
fn show_of(cmd: &Command) -> Option<Show> {
    Some(match cmd.id {
        CommandId::ShowIsakmpSa => Show::IsakmpSa,
        CommandId::ShowIsakmpSaDetail => Show::IsakmpSaDetail,
        CommandId::ShowIsakmpPolicy => Show::IsakmpPolicy,
        CommandId::ShowIpsecSa => Show::IpsecSa {
            peer: None,
            detail: false,
        },
        CommandId::ShowIpsecSaDetail => Show::IpsecSa {
            peer: None,
            detail: true,
        },
        CommandId::ShowIpsecSaPeer => Show::IpsecSa {
            peer: cmd.ip,
            detail: false,
        },
        CommandId::ShowTransformSet => Show::TransformSet,
        CommandId::ShowCryptoMap => Show::CryptoMap,
        CommandId::ShowCryptoSession => Show::CryptoSession { detail: false },
        CommandId::ShowCryptoSessionDetail => Show::CryptoSession { detail: true },
        CommandId::ShowRunningConfig => Show::RunningConfig,
        CommandId::ShowEzvpn => Show::Ezvpn,
        CommandId::ShowPkiCertificates => Show::PkiCertificates,
        CommandId::ShowPkiTrustpoints => Show::PkiTrustpoints,
        CommandId::ShowIpNatTranslations => Show::NatTranslations,
        CommandId::ShowIpsecSaInterface => Show::IpsecSaInterface {
            tunnel: cmd.number.and_then(|n| u32::try_from(n).ok())?,
            detail: false,
        },
        _ => return None,
    })
}

/// Dispatches one exec command.
pub fn command(core: &mut Tunnels, now: Instant, cmd: &Command, out: &mut Outputs) -> ControlReply {
    if let Some(what) = show_of(cmd) {
        return ControlReply::Text(core.show(now, what));
    }
    match cmd.id {
        CommandId::ShowPkiCertificatesNamed => {
            ControlReply::Text(core.show_pki_certificates(cmd.name.as_deref()))
        }
        CommandId::ShowDebugging => {
            let mut t = String::from("Cryptographic Subsystem:\n");
            if out.debugging(DebugKind::Isakmp) {
                t.push_str("  Crypto ISAKMP debugging is on\n");
            }
            if out.debugging(DebugKind::Ipsec) {
                t.push_str("  Crypto IPSEC debugging is on\n");
            }
            ControlReply::Text(t)
        }
        CommandId::Diagnose | CommandId::DiagnosePeer => {
            ControlReply::Text(ipsec_proto::diagnose::render(&core.diagnose(now, cmd.ip)))
        }
        CommandId::EzvpnConnect => {
            let name = cmd.name.as_deref().unwrap_or("");
            if core.ezvpn_connect(now, name, out) {
                ControlReply::Text(String::new())
            } else {
                ControlReply::Error(format!("% No Easy VPN profile {name}"))
            }
        }
        CommandId::EzvpnXauth => {
            let (Some(name), Some(user), Some(password)) =
                (cmd.names.first(), cmd.names.get(1), cmd.secret.as_deref())
            else {
                return ControlReply::Error("% Incomplete command.".into());
            };
            let creds = ipsec_proto::policy::XauthCredentials {
                name: user.clone(),
                password: ipsec_proto::policy::Password::new(password.as_bytes()),
            };
            match core.ezvpn_xauth(now, name, &creds, out) {
                Ok(()) => ControlReply::Text(String::new()),
                Err(ipsec_proto::tunnel::EzvpnXauthError::NoSuchProfile) => {
                    ControlReply::Error(format!("% No Easy VPN profile {name}"))
                }
                Err(_) => {
                    ControlReply::Error(format!("% EZVPN({name}): no XAUTH request is pending"))
                }
            }
        }
        CommandId::ClearSa => {
            core.clear_sa(now, None, out);
            ControlReply::Text(String::new())
        }
        CommandId::ClearSaPeer => {
            core.clear_sa(now, cmd.ip, out);
            ControlReply::Text(String::new())
        }
        CommandId::ClearIsakmp => {
            core.clear_isakmp(now, None, out);
            ControlReply::Text(String::new())
        }
        CommandId::ClearIsakmpConnId => {
            let id = cmd.number.and_then(|n| u32::try_from(n).ok());
            if core.clear_isakmp(now, id, out) == 0 {
                ControlReply::Error(format!(
                    "% No ISAKMP SA with conn-id {}",
                    cmd.number.unwrap_or(0)
                ))
            } else {
                ControlReply::Text(String::new())
            }
        }
        _ => ControlReply::Error(format!(
            "% {}: not supported by this gateway",
            cmd.canonical
        )),
    }
}
