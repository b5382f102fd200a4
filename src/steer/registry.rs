//! Every decoding method, one line each: its variant and the type that
//! implements it (`DecodingMethod`, in the method's own file). The list is
//! a callback macro so that the `Method` enum (`methods.rs`, which the run's
//! settings hold) and the dispatch to each implementation (`dispatch.rs`,
//! which needs those settings) are generated from it without a cycle.
//! Adding a method: write its file, add one line here. The order is the
//! page's picker's.

macro_rules! for_each_method {
    ($then:ident) => {
        $then! {
            Base => single::Base,
            Pp => single::Pp,
            Pdd => pdd::Pdd,
            Scr => scr::Scr,
            Mod => mod_::Mod,
            TokenRs => rs::TokenRs,
            SeqRs => rs::SeqRs,
            BestOfN => best_of_n::BestOfN,
            Soups => single::Soups,
        }
    };
}
