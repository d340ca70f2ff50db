/// Writes values into systemd unit files so that systemd reads back exactly the value, and nothing else.
///
/// Every value is double-quoted. Inside quotes systemd undoes C escapes, so `\` and `"` are escaped; `%` starts
/// a specifier and is doubled; in command lines `$` starts a variable and is doubled. Values never contain line
/// breaks (the spec validation refuses them), so a value can never end the line and start a directive.
enum UnitEscaping {
    /// One argument of `ExecStart=` and friends.
    static func commandArgument(_ value: String) -> String {
        quote(value, dollar: true)
    }

    /// A whole command line from its arguments.
    static func commandLine(_ arguments: [String]) -> String {
        arguments.map(commandArgument).joined(separator: " ")
    }

    /// One line of a file systemd reads with `EnvironmentFile=`: `KEY="VALUE"`. Inside double quotes systemd
    /// takes a backslash before `\`, `"`, `` ` `` and `$` as that character and does no expansion, so every value
    /// reads back exactly; values hold no line breaks (validation refuses them).
    static func environmentFileLine(name: String, value: String) -> String {
        var out = name + "=\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\\", "\"", "`", "$": out += "\\"
            default: break
            }
            out.unicodeScalars.append(scalar)
        }
        return out + "\"\n"
    }

    /// A value of a single-valued setting such as `Description=` (quoted like an argument, no `$` handling).
    static func plainValue(_ value: String) -> String {
        var out = ""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "%": out += "%%"
            case "\\": out += "\\\\"
            case "\n", "\r": out += " "
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// A path in a path-valued setting (`BindPaths=`, `WorkingDirectory=`): `%` doubled. Paths given to
    /// geard are checked to hold no spaces, quotes or backslashes.
    static func path(_ value: String) -> String {
        value.replacingAll("%", with: "%%")
    }

    private static func quote(_ value: String, dollar: Bool) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\t": out += "\\t"
            case "%": out += "%%"
            case "$" where dollar: out += "$$"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    // Refused by validation; escaped anyway so that no value can ever break a line.
                    let hex = String(scalar.value, radix: 16)
                    out += "\\x" + (hex.count == 1 ? "0" + hex : hex)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

extension String {
    func replacingAll(_ target: Character, with replacement: String) -> String {
        var out = ""
        for c in self {
            if c == target { out += replacement } else { out.append(c) }
        }
        return out
    }
}
