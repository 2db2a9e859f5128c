//! Client authentication: none, or `token` (static tokens or HS256 JWTs).

use sha2::{Digest, Sha256};

use crate::config::AuthConfig;
use crate::error::{BrokerError, Result};

/// Checks the credentials of a Connect; returns the client's role.
pub fn authenticate(cfg: &AuthConfig, method: &str, data: Option<&[u8]>) -> Result<String> {
    let AuthConfig::Token {
        static_tokens,
        hs256_secret,
    } = cfg
    else {
        return Ok(String::new());
    };
    if method != "token" {
        return Err(BrokerError::Authentication(format!(
            "auth method {method:?} not accepted; use token"
        )));
    }
    let token = data
        .and_then(|d| std::str::from_utf8(d).ok())
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| BrokerError::Authentication("missing token".into()))?;
    if let Some(role) = static_tokens.get(token) {
        return Ok(role.clone());
    }
    match hs256_secret {
        Some(secret) => verify_hs256(token, secret, now_secs()),
        None => Err(BrokerError::Authentication("unknown token".into())),
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Verifies an HS256 JWT and returns its `sub` claim.
pub fn verify_hs256(token: &str, secret: &[u8], now: u64) -> Result<String> {
    let bad = |why: &str| BrokerError::Authentication(format!("invalid token: {why}"));
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("not a JWT"));
    };
    let header: serde_json::Value =
        serde_json::from_slice(&b64url_decode(h).ok_or_else(|| bad("header encoding"))?)
            .map_err(|_| bad("header"))?;
    if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
        return Err(bad("alg must be HS256"));
    }
    let sig = b64url_decode(s).ok_or_else(|| bad("signature encoding"))?;
    let expected = hmac_sha256(secret, format!("{h}.{p}").as_bytes());
    // Constant-time comparison: no early exit on the first differing byte.
    let diff = sig.len() ^ expected.len()
        | sig
            .iter()
            .zip(expected.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b)) as usize;
    if diff != 0 {
        return Err(bad("signature"));
    }
    let claims: serde_json::Value =
        serde_json::from_slice(&b64url_decode(p).ok_or_else(|| bad("payload encoding"))?)
            .map_err(|_| bad("payload"))?;
    if let Some(exp) = claims.get("exp").and_then(|e| e.as_u64())
        && exp < now
    {
        return Err(bad("expired"));
    }
    Ok(claims
        .get("sub")
        .and_then(|s| s.as_str())
        .unwrap_or_default()
        .to_string())
}

/// HMAC-SHA256 (RFC 2104).
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().to_vec()
}

/// Unpadded base64url decoding (padding tolerated).
pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// Unpadded base64url encoding (to mint tokens in tests and tools).
pub fn b64url_encode(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk.iter().fold(0u32, |a, b| (a << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Mints an HS256 JWT with `sub` (and `exp` when given).
pub fn mint_hs256(secret: &[u8], sub: &str, exp: Option<u64>) -> String {
    let header = b64url_encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let mut claims = serde_json::json!({ "sub": sub });
    if let Some(exp) = exp {
        claims["exp"] = exp.into();
    }
    let payload = b64url_encode(claims.to_string().as_bytes());
    let sig = b64url_encode(&hmac_sha256(
        secret,
        format!("{header}.{payload}").as_bytes(),
    ));
    format!("{header}.{payload}.{sig}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn jwt_round_trip_and_refusals() {
        let t = mint_hs256(b"secret", "alice", Some(2000));
        assert_eq!(verify_hs256(&t, b"secret", 1000).unwrap(), "alice");
        assert!(verify_hs256(&t, b"other", 1000).is_err());
        assert!(verify_hs256(&t, b"secret", 3000).is_err(), "expired");
        let mut forged = t.clone();
        forged.push('A');
        assert!(verify_hs256(&forged, b"secret", 1000).is_err());
    }

    #[test]
    fn base64url_round_trip() {
        for n in 0..20 {
            let data: Vec<u8> = (0..n).map(|i| (i * 37) as u8).collect();
            assert_eq!(b64url_decode(&b64url_encode(&data)).unwrap(), data);
        }
    }
}
