//! The show-income ranking's periods (seed 003: `ranking` sub_type 9, 表演收入榜): the current
//! calendar day, week (Monday first) or month in the configured time zone, as a range of UTC
//! seconds the ranking's payments fall in.

use crate::model::secs;

const DAY: i64 = 24 * 60 * 60;

/// Which ranking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RankingPeriod {
    /// Today (日榜).
    Day,
    /// This week, from Monday (周榜).
    Week,
    /// This month (月榜).
    Month,
}

/// `[from, to)` in UTC seconds: the period containing `now_ms` in the zone `utc_offset_minutes`
/// east of UTC.
pub fn ranking_window(period: RankingPeriod, now_ms: u64, utc_offset_minutes: i64) -> (u64, u64) {
    let offset = utc_offset_minutes * 60;
    let local_day = (secs(now_ms) as i64 + offset).div_euclid(DAY);
    let (first_day, next_first_day) = match period {
        RankingPeriod::Day => (local_day, local_day + 1),
        RankingPeriod::Week => {
            // 1970-01-01 was a Thursday: day 0 is 3 days after a Monday.
            let monday = local_day - (local_day + 3).rem_euclid(7);
            (monday, monday + 7)
        }
        RankingPeriod::Month => {
            let (year, month, _) = civil_from_days(local_day);
            let next = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
            (days_from_civil(year, month, 1), days_from_civil(next.0, next.1, 1))
        }
    };
    let utc = |day: i64| (day * DAY - offset).max(0) as u64;
    (utc(first_day), utc(next_first_day))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day since 1970-01-01 (the inverse of [`days_from_civil`]).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-02-29 (a Thursday) 23:30 UTC = 2024-03-01 07:30 in UTC+8.
    const LEAP_EVENING_MS: u64 = 1_709_249_400_000;
    const CHINA: i64 = 480;

    #[test]
    fn dates_round_trip() {
        for days in [-800_000, -1, 0, 1, 19_782, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }

    #[test]
    fn periods_follow_the_local_calendar() {
        // In China it is already Friday 2024-03-01.
        let march_1_local = 1_709_222_400; // 2024-03-01 00:00 UTC+8
        let table = [
            (RankingPeriod::Day, CHINA, (march_1_local, march_1_local + 86_400)),
            // The week from Monday 2024-02-26.
            (RankingPeriod::Week, CHINA, (march_1_local - 4 * 86_400, march_1_local + 3 * 86_400)),
            // March has 31 days.
            (RankingPeriod::Month, CHINA, (march_1_local, march_1_local + 31 * 86_400)),
            // In UTC it is still Thursday 2024-02-29: February of a leap year has 29 days.
            (RankingPeriod::Day, 0, (1_709_164_800, 1_709_251_200)),
            (RankingPeriod::Month, 0, (1_706_745_600, 1_709_251_200)),
            (RankingPeriod::Week, 0, (1_708_905_600, 1_709_510_400)),
        ];
        for (period, offset, expected) in table {
            assert_eq!(
                ranking_window(period, LEAP_EVENING_MS, offset),
                expected,
                "{period:?} {offset}"
            );
        }
        // December rolls over into the next year.
        let december = 1_734_048_000_000; // 2024-12-13 00:00 UTC
        let (from, to) = ranking_window(RankingPeriod::Month, december, 0);
        assert_eq!((from, to), (1_733_011_200, 1_735_689_600));
    }
}
