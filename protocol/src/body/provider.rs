//! The shared registry of providers of commissioning support.

use serde::{Deserialize, Serialize};

use super::{KindBody, req_enum};
use crate::encoding::{FieldWriter, Fields};
use crate::error::{DecodeError, FieldError};
use crate::validate::{MAX_LABEL, MAX_LIST, MAX_NAME, at};

crate::types::coded_enum!(
    /// What kind of organisation a provider is.
    ProviderKind, "provider kind" {
        Csu = 1 => "csu",
        Private = 2 => "private",
        NhsBody = 3 => "nhs_body",
        LocalAuthority = 4 => "local_authority",
        Other = 5 => "other",
    }
);

/// A provider entry: its code (ODS where it has one), name, kind and other names it goes by.
/// Later entries for the same code from any member update the name, kind and aliases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provider {
    pub code: String,
    pub name: String,
    pub provider_kind: ProviderKind,
    #[serde(default)]
    pub aliases: Vec<String>,
}

impl KindBody for Provider {
    const CONTEXT: &'static str = "provider";
    fn encode_fields(&self, w: &mut FieldWriter) {
        w.str(1, &self.code);
        w.str(2, &self.name);
        w.u8(3, self.provider_kind.code());
        for a in &self.aliases {
            w.str(4, a);
        }
    }
    fn decode_fields(f: &Fields<'_>) -> Result<Self, DecodeError> {
        Ok(Provider {
            code: f.str(1, "code")?,
            name: f.str(2, "name")?,
            provider_kind: req_enum(f, 3, "provider_kind", ProviderKind::from_code)?,
            aliases: f.str_list(4, "aliases")?,
        })
    }
    fn validate(&self) -> Result<(), FieldError> {
        let c = Self::CONTEXT;
        at(c, "code").provider_code(&self.code)?;
        at(c, "name").line(&self.name, MAX_NAME)?;
        at(c, "aliases").list_len(&self.aliases, MAX_LIST)?;
        for a in &self.aliases {
            at(c, "aliases").line(a, MAX_LABEL)?;
        }
        Ok(())
    }
}
