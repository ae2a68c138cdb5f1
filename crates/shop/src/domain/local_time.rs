//! How a moment reads to people: a Unix time as a date and time in the shop's time zone
//! (`CAISSE_TIME_ZONE`), with the zone's abbreviation or offset, as audit sentences, alert
//! messages and the dashboard show it. The one formatting of times for people: every sentence
//! and page goes through [`local_time`]. Machine formats (the CSV export, JSON) stay ISO 8601 UTC.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// The time zone named `name` (IANA, `Europe/Paris`) from the tz database bundled in the binary,
/// so that a host without `/usr/share/zoneinfo` (a slim container) reads the same; `None` when
/// the database has no such zone.
pub fn zone(name: &str) -> Option<TimeZone> {
    TimeZone::get(name).ok()
}

/// `2026-12-04 23:15 CET`: minutes are what a person reads a time to (seconds stay in the
/// machine's records). A zone the tz database gives no abbreviation shows its offset (`+03`). A time outside the calendar's range reads as the number.
pub fn local_time(unix: i64, zone: &TimeZone) -> String {
    Timestamp::from_second(unix)
        .ok()
        .and_then(|t| {
            jiff::fmt::strtime::format("%Y-%m-%d %H:%M %Z", &t.to_zoned_datetime(zone.clone())).ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

/// The Unix times a `YYYY-MM-DD` day of the shop's starts and ends at in `zone`, as a day filter
/// reads it (from its first second to the next day's first, 23 or 25 hours on a day the clocks
/// change); `None` for anything that is not such a date.
pub fn day_bounds(day: &str, zone: &TimeZone) -> Option<(i64, i64)> {
    let date = Date::strptime("%Y-%m-%d", day.trim()).ok()?;
    let start = |d: Date| {
        d.to_zoned_datetime(zone.clone())
            .ok()
            .map(|z| z.timestamp().as_second())
    };
    Some((start(date)?, start(date.tomorrow().ok()?)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-01-15 12:00:00 UTC and 2026-07-15 12:00:00 UTC.
    const WINTER: i64 = 1_768_478_400;
    const SUMMER: i64 = 1_784_116_800;

    #[test]
    fn paris_reads_cet_in_winter_and_cest_in_summer() {
        let paris = zone("Europe/Paris").unwrap();
        assert_eq!(local_time(WINTER, &paris), "2026-01-15 13:00 CET");
        assert_eq!(local_time(SUMMER, &paris), "2026-07-15 14:00 CEST");
    }

    #[test]
    fn utc_is_the_default_and_reads_utc() {
        let default = crate::config::declared(crate::config::TIME_ZONE)
            .unwrap()
            .default;
        let utc = zone(default).unwrap();
        assert_eq!(local_time(WINTER, &utc), "2026-01-15 12:00 UTC");
        assert_eq!(local_time(SUMMER, &utc), "2026-07-15 12:00 UTC");
    }

    #[test]
    fn a_day_boundary_moves_with_the_zone() {
        // 2026-12-04 22:15 UTC is already the 5th in Tokyo and still the 4th in New York.
        let t = 1_796_422_500;
        assert_eq!(
            local_time(t, &zone("Asia/Tokyo").unwrap()),
            "2026-12-05 07:15 JST"
        );
        assert_eq!(
            local_time(t, &zone("America/New_York").unwrap()),
            "2026-12-04 17:15 EST"
        );
    }

    #[test]
    fn a_day_is_the_shop_s_day_and_lasts_what_its_clocks_say() {
        let paris = zone("Europe/Paris").unwrap();
        // 2026-01-15 00:00 CET is 2026-01-14 23:00 UTC.
        assert_eq!(
            day_bounds("2026-01-15", &paris),
            Some((WINTER - 13 * 3600, WINTER + 11 * 3600))
        );
        assert_eq!(
            day_bounds(" 2026-01-15 ", &TimeZone::UTC),
            Some((WINTER - 12 * 3600, WINTER + 12 * 3600))
        );
        // The clocks go forward on 2026-03-29 in Paris: that day has 23 hours.
        let (start, end) = day_bounds("2026-03-29", &paris).unwrap();
        assert_eq!(end - start, 23 * 3600);
        for bad in ["", "2026-13-01", "15/01/2026", "2026-01-15T00:00"] {
            assert_eq!(day_bounds(bad, &paris), None, "{bad}");
        }
    }

    #[test]
    fn unknown_zones_are_none_and_far_times_read_as_numbers() {
        assert!(zone("Europe/Atlantis").is_none());
        assert!(zone("").is_none());
        assert_eq!(local_time(i64::MAX, &TimeZone::UTC), i64::MAX.to_string());
    }
}
