//! The shop's time zone (`CAISSE_TIME_ZONE`): the zone audit sentences, alert messages and the
//! dashboard write dates in. A name the bundled tz database does not know is refused at start,
//! rather than dates silently read in UTC.

use jiff::tz::TimeZone;

use super::reader::Reader;
use super::settings::TIME_ZONE;
use crate::domain::local_time::zone;

pub(super) fn time_zone(r: &mut Reader<'_>) -> TimeZone {
    let name = r.text(TIME_ZONE);
    zone(name.trim()).unwrap_or_else(|| {
        r.fail(
            TIME_ZONE,
            "is not a time zone of the tz database (an IANA name such as Europe/Paris, or UTC)",
        );
        TimeZone::UTC
    })
}
