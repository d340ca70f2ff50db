/// RFC 3339 UTC timestamps written by hand: Foundation's formatters cost microseconds per call, and a list or a log
/// stream writes one per entry.
public enum RFC3339 {
    /// `2026-11-23T10:00:00.123Z` (`fractionDigits` 3) or `...00.123456Z` (6) for `microseconds` since the epoch.
    public static func bytes(microseconds: Int64, fractionDigits: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(27)
        write(microseconds: microseconds, fractionDigits: fractionDigits, to: &out)
        return out
    }

    public static func write(microseconds: Int64, fractionDigits: Int, to out: inout [UInt8]) {
        let unit: Int64 = fractionDigits == 3 ? 1000 : 1
        let perSecond = 1_000_000 / unit
        let value = microseconds / unit
        var seconds = value / perSecond
        var fraction = value % perSecond
        if fraction < 0 {
            fraction += perSecond
            seconds -= 1
        }
        var days = seconds / 86400
        var secondOfDay = seconds % 86400
        if secondOfDay < 0 {
            secondOfDay += 86400
            days -= 1
        }
        let (year, month, day) = civil(days: days)
        pad(year, 4, &out)
        out.append(UInt8(ascii: "-"))
        pad(Int64(month), 2, &out)
        out.append(UInt8(ascii: "-"))
        pad(Int64(day), 2, &out)
        out.append(UInt8(ascii: "T"))
        pad(secondOfDay / 3600, 2, &out)
        out.append(UInt8(ascii: ":"))
        pad(secondOfDay / 60 % 60, 2, &out)
        out.append(UInt8(ascii: ":"))
        pad(secondOfDay % 60, 2, &out)
        out.append(UInt8(ascii: "."))
        pad(fraction, fractionDigits == 3 ? 3 : 6, &out)
        out.append(UInt8(ascii: "Z"))
    }

    private static func pad(_ value: Int64, _ width: Int, _ out: inout [UInt8]) {
        let start = out.count
        out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: width))
        var v = value
        var i = start + width - 1
        while i >= start, v > 0 {
            out[i] = UInt8(ascii: "0") + UInt8(v % 10)
            v /= 10
            i -= 1
        }
    }

    /// Year, month and day of a count of days since 1970-01-01 in the proleptic Gregorian calendar (the
    /// well-known days-to-civil algorithm).
    static func civil(days: Int64) -> (Int64, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = Int(dayOfYear - (153 * mp + 2) / 5 + 1)
        let month = Int(mp < 10 ? mp + 3 : mp - 9)
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
