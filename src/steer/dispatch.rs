//! From a `Method` to its implementation: generated from `registry.rs`, so
//! the runner, the probe and every front end ask a method's description
//! (`info`) and behaviour without naming its variant. Also its name on the
//! command line and the wire (`FromStr`, serde: each method's own `name`).

use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::common::Outcome;
use super::config::RunConfig;
use super::method::{DecodeContext, DecodingMethod, MethodInfo, ProbeCompletions};
use super::methods::Method;
use super::view_model::{ViewModel, ViewSpec};
use super::views::ViewPrompts;
use super::{best_of_n, mod_, pdd, rs, scr, single};
use crate::backend::MixRead;
use crate::{Error, Result};

macro_rules! method_dispatch {
    ($($variant:ident => $imp:path,)+) => {
        impl Method {
            /// Its description.
            pub fn info(self) -> &'static MethodInfo {
                match self {
                    $(Method::$variant => $imp.info(),)+
                }
            }

            pub(crate) fn validate_own(self, cfg: &RunConfig) -> Result<()> {
                match self {
                    $(Method::$variant => $imp.validate(cfg),)+
                }
            }

            /// How many views (rows) it evaluates for `cfg`.
            pub fn view_count(self, cfg: &RunConfig) -> usize {
                match self {
                    $(Method::$variant => $imp.view_count(cfg),)+
                }
            }

            pub(crate) fn views(
                self,
                cfg: &RunConfig,
                prompts: &ViewPrompts,
            ) -> Result<Vec<ViewSpec>> {
                match self {
                    $(Method::$variant => $imp.views(cfg, prompts),)+
                }
            }

            pub(crate) fn first_reads(self, cfg: &RunConfig) -> Vec<MixRead> {
                match self {
                    $(Method::$variant => $imp.first_reads(cfg),)+
                }
            }

            pub(crate) fn reads_some_views(self) -> bool {
                match self {
                    $(Method::$variant => $imp.reads_some_views(),)+
                }
            }

            pub(crate) async fn decode<M: ViewModel>(
                self,
                m: &mut M,
                cx: DecodeContext<'_>,
            ) -> Result<Outcome> {
                match self {
                    $(Method::$variant => $imp.decode(m, cx).await,)+
                }
            }

            pub(crate) async fn probe<M: ViewModel>(
                self,
                cfg: &RunConfig,
                m: &mut M,
                item: ProbeCompletions<'_>,
            ) -> Result<[f64; 2]> {
                match self {
                    $(Method::$variant => $imp.probe(cfg, m, item).await,)+
                }
            }
        }
    };
}

for_each_method!(method_dispatch);

impl Method {
    /// The CLI's and the wire's name.
    pub fn name(self) -> &'static str {
        self.info().name
    }
}

impl FromStr for Method {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Method::ALL
            .iter()
            .copied()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Method::ALL.iter().map(|m| m.name()).collect();
                Error::InvalidInput(format!(
                    "unknown method '{s}'; choose one of {}",
                    names.join(", ")
                ))
            })
    }
}

impl Serialize for Method {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Method {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}
