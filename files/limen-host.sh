#!/bin/bash
# limen-host: the few privileged steps the limen-infra stack takes on a host, run through sudo.
#
# Installed by the stack's readiness gate at /usr/local/libexec/limen/limen-host. Each subcommand is
# idempotent (the engine re-runs commands after a failed update) and leaves a working host behind
# when it fails: a file's new content is checked first, then written to a new file beside its target
# and renamed into place, so a reader sees the old file or the new one, never half of one.
#
# Root never follows a path another user can change (docs/security.md): every file is read, written
# and removed through limen_file below, which refuses a symbolic link another user could have placed
# and never acts through a path where a file's descriptor can do it. A file in a directory of its own
# (non-root) owner, such as the app's .env.production, is written by that user, not by root. Every
# directory root writes in directly is first proven to be one that nobody but root can change.
#
# One installed file, so that what root runs is one thing the stack hashes, installs and reads back.
# Its source reads in sections (each opens with a `# --- ` line), one per resource kind, and each
# subcommand has one entry point, cmd_<subcommand>, dispatched by main at the end:
#   arguments · limen-file (root's file access) · installing files · the firewall · the pm2 apps ·
#   the front door's gate · certificates · the name Envoy's container runs under · the entry point
set -euo pipefail
umask 077

# Every name and path comes in as an argument from the stack's plan (core/host-paths.ts): the tool
# keeps no copy of them.
die() { echo "limen-host: $*" >&2; exit 1; }

# The step runs under root's `timeout` (hostio/deadlines.ts, underDeadline): at the deadline the whole
# process group gets SIGTERM. Exiting on it (rather than dying of it) runs the EXIT trap, which removes
# the stage and its secrets.
trap 'exit 143' TERM INT HUP

# deadline NAME: the seconds this run may wait on NAME (pm2-call, gate-request, certbot, envoy-validate), as the stack
# passed them with --deadlines; every wait on something the app user (or a CA) can stall has one.
declare -A deadlines=()
deadline() {
    need_deadlines "$1"
    echo "${deadlines[$1]}"
}

# need_deadlines NAME...: stops the subcommand unless the stack passed these (deadline, in a command
# substitution, could only stop the substitution).
need_deadlines() {
    local name
    for name in "$@"; do
        [ -n "${deadlines[$name]:-}" ] || die "no deadline for $name: the stack passes every deadline with --deadlines (hostio/deadlines.ts)"
    done
}

# --- arguments -------------------------------------------------------------------------------------
# opts SUBCOMMAND "name1 name2 ..." ARGS...: fills opt[name] from `--name VALUE` pairs; an unknown
# option, or one without a value, is refused with the subcommand's name.
declare -A opt=()
opts() {
    local sub=$1 names=$2 name
    shift 2
    while [ $# -gt 0 ]; do
        name=${1#--}
        if [ "$name" = "$1" ] || [[ " $names " != *" $name "* ]]; then
            die "$sub: unknown argument '$1' (expected: --${names// / --})"
        fi
        if [ $# -lt 2 ] || [ -z "$2" ]; then die "$sub: --$name needs a non-empty value"; fi
        if [ "$name" = mount ]; then envoy_mounts+=("$2"); else opt[$name]=$2; fi
        shift 2
    done
}

# need SUBCOMMAND NAME...: each named option must have been given.
need() {
    local sub=$1 name
    shift
    for name in "$@"; do
        [ -n "${opt[$name]:-}" ] || die "$sub: --$name is required"
    done
}

# --- limen-file: root's file access, never through a path another user can change ------------------
# limen-file: the file access root does here and in the stack's read probes (hostio/observe-*.ts run
# this same text, taken from this file, so that the probes need no host tool). perl-base is part of
# every Debian system.
read -r -d '' limen_file_pl <<'PERL' || true
# limen-file: the file access the host tool and the stack's read probes do as root, written so that
# no path another user can change ever redirects it. (Run with `perl -e`; perl-base is part of every
# Debian system, and nothing here needs more than it.)
#
#   read PATH...                     one line per PATH, tab-separated: KIND MODE OWNER MTIME SHA256 PATH NOTE
#   cat PATH                         PATH's content on stdout: a regular file with one name, or it stops
#   replace PATH MODE USER:GROUP     stdin -> PATH through a new file beside it, renamed into place
#   remove PATH                      unlinks PATH (a link or a file; never what a link points to)
#   dir [--create MODE] DIR          DIR is a directory nobody but root can change (created if asked)
#   path-dirs DIR... [--commands NAME...]
#                                    each DIR (a PATH entry) is one nobody but root can change, or, when
#                                    missing, could only be created by root: root runs what it finds there;
#                                    and each NAME found on PATH is a trusted command (below)
#   command NAME                     the real path of the NAME root runs from PATH, when it is trusted:
#                                    a root-owned file nobody else may write, every directory on its real
#                                    path one nobody but root can change (a link into the app user's home,
#                                    such as a version manager's node, is refused); exit 2 when not found
#
# Every command walks to the directory one component at a time: lstat, chdir, then a check that "."
# is what lstat saw, so a component swapped between the two steps is caught. A symbolic link on the
# way is followed only where nobody but root (or the user running this) could have placed it. The
# file itself is opened with O_NOFOLLOW and O_NONBLOCK and judged by fstat on that descriptor: a link,
# a FIFO or a device at its name is reported as what it is, never read through and never waited on.
# Nothing is ever changed through a path: a new file is created with O_EXCL, given its mode and owner
# on its descriptor, and renamed over the old name (rename replaces a link; it does not follow it).
#
# Nothing is read past $max_bytes: a file's size is judged by fstat on its descriptor before a byte of
# it is read, so an 8 TiB sparse file the app user made for free is refused at once ("oversized"),
# never hashed, copied or compared. Every file the stack reads this way (an env file, an ecosystem,
# Envoy's config, a ruleset, a unit, the host tool itself) is a few kilobytes; 1 MiB leaves room
# for any real one, so the limit is not configurable.
use strict;
use warnings;
use Fcntl qw(:DEFAULT :mode);
use Errno qw(ENOENT ELOOP ENXIO EEXIST);
use IO::Handle;
use Cwd ();

# Users whose changes root may follow: root, and the user running this (the app user, when the host
# tool hands a file in the app user's own directory over to that user).
my %trusted = (0 => 1, $> => 1);
my $handover = 3;
my $max_bytes = 1048576;

sub fail { print STDERR "limen-host: $_[0]\n"; exit 1; }
sub owner_name { my ($uid, $gid) = @_; return (getpwuid($uid) // $uid) . ":" . (getgrgid($gid) // $gid); }

# Whether only trusted users can rename or replace the entries of a directory: one of them owns it and
# neither others nor its group (unless root's) may write it, or it is sticky (then an entry's owner alone can).
sub guards_entries {
    my @st = @_;
    return $trusted{ $st[4] } && (($st[2] & S_ISVTX) || closed(@st));
}

# Whether only its (trusted) owner can change a directory's entries at all: no sticky exception.
sub closed {
    my @st = @_;
    return $trusted{ $st[4] } && !($st[2] & S_IWOTH) && (!($st[2] & S_IWGRP) || $st[5] == 0);
}

# Who besides the trusted users can change a directory, in words.
sub others {
    my @st = @_;
    return "user " . (getpwuid($st[4]) // $st[4]) unless $trusted{ $st[4] };
    return sprintf("everyone (mode %04o)", $st[2] & 07777) if $st[2] & S_IWOTH;
    return "group " . (getgrgid($st[5]) // $st[5]);
}

# enter(DIR, CREATE_MODE): makes DIR the working directory, creating what is missing when CREATE_MODE
# is given and only trusted users could have changed the way there. Returns (ENTRY_GUARDED, WHY):
# whether no untrusted user could have replaced DIR or anything on the way to it, and if not, who
# could. Returns (undef, REASON, ERRNO) when DIR cannot be reached without following a symbolic link
# an untrusted user could have placed, or is missing.
sub enter {
    my ($dir, $create_mode) = @_;
    fail("$dir is not an absolute path") unless $dir =~ m{^/};
    my @todo = grep { $_ ne "" && $_ ne "." } split m{/}, $dir;
    chdir "/" or fail("cannot enter /: $!");
    my @here = stat ".";
    my ($at, $links, $entry_guarded, @above) = ("", 0, 1);
    my $guarded = guards_entries(@here);
    my $why = $guarded ? "" : "/ can be changed by " . others(@here);
    while (@todo) {
        my $name = shift @todo;
        if ($name eq "..") {
            chdir ".." or fail("cannot enter $at/..: $!");
            ($at, $guarded, $why, $entry_guarded) = @{ pop(@above) // ["", $guarded, $why, 1] };
            next;
        }
        my @l = lstat $name;
        if (!@l && $! == ENOENT && defined $create_mode && $guarded) {
            # Exactly this mode, whatever the caller's umask (the host tool's is 077). Another step of the
            # same deploy may create it in the same instant (two certificates' directories under one
            # parent): that one is judged below like any directory found there.
            my $umask = umask 0;
            mkdir $name, (@todo ? 0755 : $create_mode) or $! == EEXIST or fail("cannot create $at/$name: $!");
            umask $umask;
            @l = lstat $name;
        }
        return (undef, "$at/$name is missing", ENOENT) unless @l;
        if (S_ISLNK($l[2])) {
            return (undef, "$at/$name is a symbolic link that another user could have placed ($why): not followed") unless $guarded;
            return (undef, "$at/$name is a symbolic link owned by user " . (getpwuid($l[4]) // $l[4]) . ": not followed") unless $trusted{ $l[4] };
            fail("too many symbolic links on the way to $dir") if ++$links > 40;
            my $target = readlink($name) // fail("cannot read the link $at/$name: $!");
            if ($target =~ m{^/}) {
                chdir "/" or fail("cannot enter /: $!");
                @here = stat ".";
                ($at, $entry_guarded, @above) = ("", 1);
                $guarded = guards_entries(@here);
                $why = $guarded ? "" : "/ can be changed by " . others(@here);
            }
            unshift @todo, grep { $_ ne "" && $_ ne "." } split m{/}, $target;
            next;
        }
        return (undef, "$at/$name is not a directory") unless S_ISDIR($l[2]);
        chdir $name or fail("cannot enter $at/$name: $!");
        @here = stat ".";
        return (undef, "$at/$name was replaced while it was entered") unless $here[0] == $l[0] && $here[1] == $l[1];
        push @above, [$at, $guarded, $why, $entry_guarded];
        $entry_guarded = $guarded;
        if ($guarded && !guards_entries(@here)) { $guarded = 0; $why = "$at/$name can be changed by " . others(@here); }
        $at .= "/$name";
    }
    return ($entry_guarded, $why);
}

sub split_path {
    my ($path) = @_;
    my ($dir, $name) = $path =~ m{^(.*)/([^/]+)$} or fail("$path is not an absolute path to a file");
    fail("$path is not an absolute path to a file") if $name eq "." || $name eq ".." || $path !~ m{^/};
    return ($dir eq "" ? "/" : $dir, $name);
}

my %kinds = (S_IFIFO, "fifo", S_IFDIR, "directory", S_IFSOCK, "socket", S_IFCHR, "device", S_IFBLK, "device", S_IFLNK, "symlink");

# look(NAME): opens NAME in the working directory without following it or waiting on it. Returns
# (KIND, HANDLE, STAT): KIND is file, missing, symlink, fifo, directory, socket, device, hardlink
# (a regular file that also has another name, which could be any file on this filesystem) or
# oversized (a regular file larger than $max_bytes, which is not read).
sub look {
    my ($name) = @_;
    if (!sysopen(my $fh, $name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY)) {
        return ("missing") if $! == ENOENT;
        return ("symlink") if $! == ELOOP;
        return ("socket") if $! == ENXIO;
        my @l = lstat $name;
        return ($kinds{ S_IFMT($l[2]) } // "unreadable") if @l;
        return ("unreadable");
    } else {
        my @st = stat $fh;
        return ($kinds{ S_IFMT($st[2]) } // "unreadable", undef, @st) unless S_ISREG($st[2]);
        return ("hardlink", undef, @st) if $st[3] > 1;
        return ("oversized", undef, @st) if $st[7] > $max_bytes;
        return ("file", $fh, @st);
    }
}

# What an oversized file's size is, against the limit, in words.
sub too_large { return "$_[0] bytes, above the limit of $max_bytes bytes for a file root reads"; }

sub sha256_of {
    my ($fh) = @_;
    my $pid = open(my $out, "-|") // fail("cannot start sha256sum: $!");
    if (!$pid) { open(STDIN, "<&", $fh) or exit 1; exec "/usr/bin/sha256sum" or exit 1; }
    my $line = <$out> // "";
    close $out;
    return $line =~ /^([0-9a-f]{64})/ ? $1 : "-";
}

sub cmd_read {
    for my $path (@_) {
        my ($dir, $name) = split_path($path);
        my ($guarded, $why, $errno) = enter($dir);
        my @fields;
        if (!defined $guarded) {
            @fields = (($errno // 0) == ENOENT ? "missing" : "unsafe", "-", "-", "-", "-", $path, $why);
        } else {
            my ($kind, $fh, @st) = look($name);
            if ($kind eq "file") {
                @fields = ("file", sprintf("%04o", $st[2] & 07777), owner_name($st[4], $st[5]), $st[9], sha256_of($fh), $path, "");
            } else {
                @fields = ($kind, "-", "-", "-", "-", $path, $kind eq "hardlink" ? "$st[3] names" : $kind eq "oversized" ? too_large($st[7]) : "");
            }
        }
        print join("\t", @fields), "\n";
    }
}

sub cmd_cat {
    my ($path) = @_;
    my ($dir, $name) = split_path($path // "");
    my ($guarded, $why) = enter($dir);
    fail("$path: not read: $why") unless defined $guarded;
    my ($kind, $fh, @st) = look($name);
    fail("$path: not read: " . too_large($st[7])) if $kind eq "oversized";
    fail("$path: not read: it is $kind") unless $kind eq "file";
    binmode $fh;
    binmode STDOUT;
    while (sysread($fh, my $chunk, 65536)) { print $chunk; }
    close $fh;
}

my %found = (symlink => "a symbolic link", fifo => "a FIFO", socket => "a socket", device => "a device", hardlink => "a hard link to a file with other names", oversized => "a file larger than the limit", unreadable => "something unreadable");

sub cmd_replace {
    my ($path, $mode_text, $owner) = @_;
    fail("replace: MODE must be octal, got '$mode_text'") unless ($mode_text // "") =~ /^0?[0-7]{3,4}$/;
    my ($user, $group) = ($owner // "") =~ /^([^:]+):([^:]+)$/ or fail("replace: OWNER must be user:group, got '" . ($owner // "") . "'");
    my $uid = getpwnam($user) // fail("$path: user $user does not exist");
    my $gid = getgrnam($group) // fail("$path: group $group does not exist");
    my $mode = oct $mode_text;
    my ($dir, $name) = split_path($path);
    my ($guarded, $why) = enter($dir, $> == 0 ? 0755 : undef);
    fail("$path: not written: $why") unless defined $guarded;
    my @d = stat ".";
    if (!$guarded || !closed(@d)) {
        # A directory of the file's owner (the app user's own): that user writes the file (the caller
        # runs this again as the user), so root never acts in a directory the app user can change.
        exit $handover if $> == 0 && $uid != 0 && $guarded && $d[4] == $uid && !($d[2] & (S_IWOTH | S_IWGRP));
        fail("$path: not written: " . ($why || "$dir can be changed by " . others(@d)));
    }
    my $content = "";
    while (my $got = sysread(STDIN, $content, 65536, length $content)) {
        fail("$path: not written: the new content is " . too_large(length $content)) if length $content > $max_bytes;
    }
    my ($kind, $fh, @st) = look($name);
    # The old file is read only when it could be the same (its size, checked on the descriptor, is the new one's).
    if ($kind eq "file" && $st[7] == length($content) && (do { local $/; <$fh> } // "") eq $content) {
        if (($st[2] & 07777) == $mode && $st[4] == $uid && $st[5] == $gid) { print "unchanged $path\n"; exit 0; }
        # Same content, other mode or owner: fixed on the descriptor just judged, so the file (and its
        # mtime, which tells whether running apps have loaded it) stays the one they read. A user who
        # may not hand the file over (the app user, for a file root owns) rewrites it below instead.
        if (chmod($mode, $fh) && chown($uid, $gid, $fh)) { print "fixed mode and owner of $path\n"; exit 0; }
    }
    fail("$path: a directory is in the way; the stack does not remove directories") if $kind eq "directory";
    my ($tmp, $new);
    for (1 .. 100) {
        $tmp = ".limen-" . join("", map { ("a" .. "z", "A" .. "Z", 0 .. 9)[rand 62] } 1 .. 6) . ".$name";
        last if sysopen($new, $tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
        fail("$path: cannot create a temporary file in $dir: $!") unless $! == EEXIST;
    }
    my $written = print {$new} $content;
    $written &&= $new->flush && chmod($mode, $new) && chown($uid, $gid, $new) && $new->sync;
    if (!$written) { my $error = "$!"; unlink $tmp; fail("$path: cannot write the new file in $dir: $error"); }
    my @mine = stat $new;
    if (!rename $tmp, $name) {
        my $error = "$!";
        # Whatever now stands at the temporary name: the new file, or what another user put there after
        # removing it (a watcher can swap it for a link between the failed rename and this look).
        my @there = lstat $tmp;
        my $ours = @there && $there[0] == $mine[0] && $there[1] == $mine[1];
        unlink $tmp if $ours;
        fail("$path: the new file $dir/$tmp was removed before it could be renamed into place: something is changing $dir during the install") if !$ours && $error =~ /No such file/;
        fail("$path: cannot rename the new file into place: $error");
    }
    my @now = lstat $name;
    if (!@now || $now[0] != $mine[0] || $now[1] != $mine[1]) {
        my ($now_kind) = @now ? ($kinds{ S_IFMT($now[2]) } // "file") : "missing";
        fail("$path: right after the rename, $path is " . ($found{$now_kind} // "another file") . ", not the file just written: something is changing $dir during the install");
    }
    print "installed $path", ($found{$kind} ? " (replaced $found{$kind} that was there)" : ""), "\n";
}

sub cmd_remove {
    my ($path) = @_;
    my ($dir, $name) = split_path($path // "");
    my ($guarded, $why, $errno) = enter($dir);
    if (!defined $guarded) {
        return print("removed $path\n") if ($errno // 0) == ENOENT;
        fail("$path: not removed: $why");
    }
    my @l = lstat $name;
    fail("$path: a directory is in the way; the stack does not remove directories") if @l && S_ISDIR($l[2]);
    unlink $name or $! == ENOENT or fail("cannot remove $path: $!");
    print "removed $path\n";
}

sub cmd_dir {
    my $create = $_[0] && $_[0] eq "--create" ? oct((splice @_, 0, 2)[1]) : undef;
    my ($dir) = @_;
    my ($guarded, $why) = enter($dir // "", $create);
    fail("$dir: $why") unless defined $guarded;
    my @d = stat ".";
    fail("$dir: " . ($why || "it can be changed by " . others(@d)) . "; root does not act in it") unless $guarded && closed(@d);
}

# trusted_command(NAME): (REAL PATH) of the NAME root would run from PATH, or () when there is none;
# stops naming what another user could change when root must not run it.
sub trusted_command {
    my ($name) = @_;
    fail("command: '$name' is not a plain command name") unless ($name // "") =~ m{^[A-Za-z0-9._+-]+$};
    for my $dir (split /:/, $ENV{PATH} // "") {
        next unless $dir =~ m{^/} && -f "$dir/$name" && -x _;
        my $real = Cwd::realpath("$dir/$name") // fail("$dir/$name: cannot resolve its real path: $!");
        my ($real_dir, $file) = split_path($real);
        my ($guarded, $why) = enter($real_dir);
        my @d = stat ".";
        my $via = $real eq "$dir/$name" ? $real : "$dir/$name (really $real)";
        fail("$via: " . ($why || "$real_dir can be changed by " . others(@d)) . ": root does not run it")
            unless defined $guarded && $guarded && closed(@d);
        my @st = lstat $file;
        fail("$via: not a regular file root can trust: root does not run it") unless @st && S_ISREG($st[2]);
        fail("$via is owned by user " . (getpwuid($st[4]) // $st[4]) . ": root does not run it") unless $st[4] == 0;
        fail(sprintf("%s can be changed by %s (mode %04o): root does not run it", $via, $st[2] & S_IWOTH ? "everyone" : "group " . (getgrgid($st[5]) // $st[5]), $st[2] & 07777))
            if $st[2] & S_IWOTH || ($st[2] & S_IWGRP && $st[5] != 0);
        return ($real);
    }
    return ();
}

sub cmd_command {
    my ($name) = @_;
    my ($real) = trusted_command($name);
    if (!defined $real) { print STDERR "limen-host: $name is not installed on this host (not found on PATH)\n"; exit 2; }
    print "$real\n";
}

sub cmd_path_dirs {
    my @commands;
    for my $i (0 .. $#_) { if ($_[$i] eq "--commands") { @commands = splice(@_, $i); shift @commands; last; } }
    for my $dir (@_) {
        next unless $dir =~ m{^/};
        my ($guarded, $why, $errno) = enter($dir);
        # A PATH entry that does not exist: whoever can create it decides what root runs.
        ($dir) = split_path($dir), redo if !defined $guarded && ($errno // 0) == ENOENT && $dir ne "/";
        my @d = stat ".";
        fail("$dir is on root's PATH, and " . ($why || "it can be changed by " . others(@d)) . ": root runs what is there, so the host tool stops")
            unless defined $guarded && $guarded && closed(@d);
    }
    trusted_command($_) for @commands;
}

my $command = shift // "";
if ($command eq "read") { cmd_read(@ARGV); }
elsif ($command eq "cat") { cmd_cat(@ARGV); }
elsif ($command eq "replace") { cmd_replace(@ARGV); }
elsif ($command eq "remove") { cmd_remove(@ARGV); }
elsif ($command eq "dir") { cmd_dir(@ARGV); }
elsif ($command eq "path-dirs") { cmd_path_dirs(@ARGV); }
elsif ($command eq "command") { cmd_command(@ARGV); }
else { fail("limen-file: unknown command '$command'"); }
PERL

# --- installing files: check-ready, install-file, remove-file --------------------------------------
# limen_file COMMAND ARGS...: see the commands at the top of limen_file_pl.
limen_file() { /usr/bin/perl -e "$limen_file_pl" -- "$@"; }

# trusted_command NAME: the real path of NAME as root runs it from PATH, checked (limen-file's
# `command`); stops the subcommand when root must not run it or it is not installed. Callers assign
# it first (`node=$(trusted_command node) || exit 1`), so a refusal is never an empty command.
trusted_command() { limen_file command "$1" || exit 1; }

# The commands root runs from PATH here: each one found must be trusted (limen-file's `command`),
# checked once per run before any subcommand (main).
host_commands=(nft systemctl systemd-run node pm2 docker certbot openssl apt-get sudo timeout flock env
    sha256sum cat cp mv rm rmdir mkdir mktemp install ln sync date hostname getent readlink dirname basename
    cmp awk grep sed tr sort paste head cut seq touch sleep)

# root_dir [--create MODE] DIR: DIR exists (created if asked) and nobody but root can change it or any
# directory above it; anything else stops the subcommand with who can. Plain shell file operations in
# DIR are safe after that: nobody else can swap what they act on.
root_dir() { limen_file dir "$@" || exit 1; }

# The stage: a directory only root can reach, on tmpfs (a secret never touches a disk on its way), for
# new content while it is checked. Removed however the script ends.
stage_dir=""
# pm2-apply's file sets (read_file_sets), on tmpfs too, removed the same way.
sets_dir=""
# envoy-release's files (the new and the previous config), on tmpfs too, removed the same way.
release_dir=""
trap 'for dir in "$stage_dir" "$sets_dir" "$release_dir"; do if [ -n "$dir" ]; then rm -rf -- "$dir"; fi; done' EXIT

# Extra read-only mounts and the image for `--check envoy` (the certificate directories).
envoy_image=""
envoy_mounts=()

# install_file PATH MODE OWNER CHECK: stdin -> PATH, checked by CHECK before anything on the host changes.
# Root writes a file in a directory only root can change; a file whose directory belongs to the file's
# own (non-root) owner is written by that user, through sudo, so root acts in no directory the app
# user controls. Either way the new file gets its mode and owner on its own descriptor and is renamed
# over the old name (limen_file replace).
install_file() {
    local path=$1 mode=$2 owner=$3 check=$4 staged status=0
    stage_dir=$(mktemp -d /run/limen-host.XXXXXX)
    # The same name as the target (validators such as node go by the extension).
    staged="$stage_dir/$(basename "$path")"
    cat >"$staged"
    case "$check" in
        none) ;;
        nft) nft -c -f "$staged" || die "$path: nft rejected the new ruleset; the installed one is unchanged" ;;
        ecosystem) check_ecosystem "$staged" ||
            die "$path: the new ecosystem file is not \`module.exports = <JSON with an apps array>;\`; the installed one is unchanged" ;;
        envoy) validate_envoy "$staged" || die "$path: envoy --mode validate rejected the new config; the installed one is unchanged" ;;
        *) die "unknown check '$check'" ;;
    esac
    limen_file replace "$path" "$mode" "$owner" <"$staged" || status=$?
    if [ "$status" -eq 3 ]; then
        # Exit 3: the directory belongs to the file's owner, who writes it (same checks, same rename).
        # shellcheck disable=SC2024 # on purpose: root opens the staged file, the user gets only its content
        sudo -n -u "${owner%%:*}" -- /usr/bin/perl -e "$limen_file_pl" -- replace "$path" "$mode" "$owner" <"$staged" || exit 1
    elif [ "$status" -ne 0 ]; then
        exit 1
    fi
    rm -rf -- "$stage_dir"
    stage_dir=""
}

# check_ecosystem FILE: the rendered ecosystem is `module.exports = <JSON>;` after comment lines, so it
# is judged by parsing it as data (loading it with require() would run uploaded code). Root opens the
# file; node, resolved and trusted as every command root runs, reads it from stdin as nobody.
check_ecosystem() {
    local node
    node=$(trusted_command node) || exit 1
    # shellcheck disable=SC2024 # on purpose: root opens the file, nobody gets only its content
    sudo -n -u nobody -- "$node" -e '
        const text = require("fs").readFileSync(0, "utf8").replace(/^(\/\/.*\n)*/, "");
        const match = /^module\.exports = ([\s\S]*);\n?$/.exec(text);
        if (!match) process.exit(1);
        const apps = JSON.parse(match[1]).apps;
        if (!Array.isArray(apps) || apps.length === 0) process.exit(1);
    ' <"$1"
}

# validate_envoy FILE: the pinned image judges the file, with the same read-only mounts as the proxy.
validate_envoy() {
    local file=$1 mount
    local args=(--rm --network none -e ENVOY_UID=0 -v "$file:/etc/envoy/envoy.yaml:ro")
    [ -n "$envoy_image" ] || die "--check envoy needs --envoy-image"
    # Docker resolves a mount's source as root, and Envoy reads through it as root: only directories
    # nobody but root can change are mounted.
    for mount in "${envoy_mounts[@]}"; do
        root_dir "$mount"
        args+=(-v "$mount:$mount:ro")
    done
    # Named, so that a validation that does not finish in time is removed, not left running.
    local name seconds status=0
    need_deadlines envoy-validate
    seconds=${deadlines[envoy-validate]}
    name=limen-envoy-validate-$$
    args+=(--name "$name")
    timeout --foreground --kill-after=5 "$seconds" docker run "${args[@]}" "$envoy_image" envoy --mode validate -c /etc/envoy/envoy.yaml || status=$?
    if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
        docker rm --force "$name" >/dev/null 2>&1 || true
        echo "limen-host: envoy --mode validate did not finish within $seconds s; its container was removed" >&2
    fi
    return "$status"
}

cmd_check_ready() {
    [ -d /run/systemd/system ] || die "systemd is not running on this host"
    command -v nft >/dev/null || die "nft is missing: install Debian's nftables package"
    echo "ready $(hostname)"
}

cmd_install_file() {
    opts install-file "path mode owner check envoy-image mount" "$@"
    need install-file path mode owner check
    envoy_image=${opt[envoy-image]:-}
    install_file "${opt[path]}" "${opt[mode]}" "${opt[owner]}" "${opt[check]}"
}

cmd_remove_file() {
    opts remove-file "path" "$@"
    need remove-file path
    # The name is unlinked where it is; a link there goes, never what it points to.
    limen_file remove "${opt[path]}" || exit 1
    # A unit file removed: systemd forgets it too.
    case "${opt[path]}" in
        /etc/systemd/system/*) [ ! -d /run/systemd/system ] || systemctl daemon-reload ;;
    esac
    # Directories the stack created under /etc/limen go too, once empty; nothing else is touched.
    case "${opt[path]}" in
        /etc/limen/*)
            if [ -d /etc/limen ]; then root_dir /etc/limen; fi
            rmdir -p --ignore-fail-on-non-empty "$(dirname "${opt[path]}")" 2>/dev/null || true
            ;;
    esac
}

# --- the firewall: apply-firewall, confirm-firewall, revert-firewall, remove-firewall --------------
# Firewall changes follow iptables-apply / deploy-rs's "magic rollback": apply-firewall saves a
# self-contained copy of the live table, arms a systemd timer that restores it, and applies the new
# ruleset in one `nft -f` transaction (other tables are never flushed). Only confirm-firewall, run
# over a NEW SSH connection (the established one survives any ruleset through conntrack), disarms
# the timer and makes the new ruleset the one loaded at boot. No confirmation in time: the host
# restores the previous ruleset by itself.
# The firewall subcommands share these arguments: --table "inet NAME", --boot-ruleset PATH (the
# confirmed ruleset; the pending one sits beside it as PATH.pending), --state-dir DIR (the saved previous
# table and the revert log), --marker FILE (the pending ruleset's hash while a revert is armed), --unit
# NAME (loads the boot ruleset) and --revert-unit NAME (the transient timer).
firewall_opts() {
    local sub=$1
    shift
    opts "$sub" "table boot-ruleset state-dir marker unit unit-path revert-unit confirm-within sha256" "$@"
    need "$sub" table boot-ruleset state-dir marker unit revert-unit
    [[ "${opt[table]}" =~ ^(inet|ip|ip6)\ [a-z_][a-z0-9_]*$ ]] || die "$sub: --table must be 'FAMILY NAME', got '${opt[table]}'"
    firewall_table=${opt[table]}
    # "inet limen_firewall" as the two words nft expects.
    read -r -a table_words <<<"$firewall_table"
    firewall_ruleset=${opt[boot-ruleset]}
    firewall_pending=${opt[boot-ruleset]}.pending
    firewall_state=${opt[state-dir]}
    firewall_marker=${opt[marker]}
    boot_unit=${opt[unit]}
    revert_unit=${opt[revert-unit]}
    # Every file below is written and removed in these directories with plain shell operations:
    # each must be one that nobody but root can change (apply-firewall creates them).
    local dir
    for dir in "$(dirname "$firewall_ruleset")" "$firewall_state" "$(dirname "$firewall_marker")"; do
        if [ -e "$dir" ] || [ -L "$dir" ]; then root_dir "$dir"; fi
    done
}

# The arguments again, for the revert the timer runs later.
firewall_args() {
    printf '%s\n' --table "$firewall_table" --boot-ruleset "$firewall_ruleset" --state-dir "$firewall_state" \
        --marker "$firewall_marker" --unit "$boot_unit" --revert-unit "$revert_unit"
}

# enable_boot_unit UNIT: enabled, and systemd's copy of the unit current. Each reload of systemd's
# unit files costs PID 1 about 0.45 s of CPU on a small host, and `systemctl enable` does one by itself
# when it enables: so one reload when the unit was disabled, one when systemd's copy is missing, broken
# or older than the file, none when all is as it was. (Enabling without that reload was tried: after a
# destroy, systemd kept the removed unit as "error" and reported no reload needed.)
enable_boot_unit() {
    local unit=$1 state
    if ! systemctl is-enabled --quiet "$unit"; then
        systemctl enable --quiet "$unit"
        return 0
    fi
    state=$(systemctl show --property=LoadState --property=NeedDaemonReload "$unit")
    if ! grep -qx LoadState=loaded <<<"$state" || ! grep -qx NeedDaemonReload=no <<<"$state"; then
        systemctl daemon-reload
    fi
}

disarm_revert() {
    systemctl stop "$revert_unit.timer" "$revert_unit.service" >/dev/null 2>&1 || true
    systemctl reset-failed "$revert_unit.timer" "$revert_unit.service" >/dev/null 2>&1 || true
}

cmd_apply_firewall() {
    firewall_opts apply-firewall "$@"
    need apply-firewall confirm-within
    [[ "${opt[confirm-within]}" =~ ^[0-9]+$ ]] || die "apply-firewall: --confirm-within must be a number of seconds"
    local within=${opt[confirm-within]} sha args
    root_dir --create 0700 "$firewall_state"
    root_dir --create 0755 "$(dirname "$firewall_marker")"
    install_file "$firewall_pending" 0600 root:root nft
    disarm_revert
    # The previous table as a file that restores it whatever is loaded by then (or removes the
    # table, when there was none before).
    {
        echo "table $firewall_table"
        echo "delete table $firewall_table"
        nft list table "${table_words[@]}" 2>/dev/null || true
    } >"$firewall_state/previous.nft.tmp"
    nft -c -f "$firewall_state/previous.nft.tmp" || die "cannot save the live table for the revert; nothing was changed"
    mv -f "$firewall_state/previous.nft.tmp" "$firewall_state/previous.nft"
    sha=$(sha256sum "$firewall_pending" | cut -d' ' -f1)
    echo "$sha" >"$firewall_marker"
    mapfile -t args < <(firewall_args)
    systemd-run --quiet --unit="$revert_unit" --on-active="${within}s" --timer-property=AccuracySec=1s \
        "$(readlink -f "$0")" revert-firewall "${args[@]}"
    nft -f "$firewall_pending"
    echo "applied table $firewall_table ($sha); the host restores the previous ruleset at $(date -u -d "+$within seconds" +%H:%M:%SZ) unless a new SSH connection confirms it"
}

cmd_revert_firewall() {
    firewall_opts revert-firewall "$@"
    nft -f "$firewall_state/previous.nft"
    rm -f "$firewall_marker" "$firewall_pending"
    echo "$(date -u +%FT%TZ) restored the previous ruleset: no new SSH connection confirmed the change" >>"$firewall_state/reverts.log"
    echo "limen-host: firewall change not confirmed in time; previous ruleset restored"
}

cmd_confirm_firewall() {
    firewall_opts confirm-firewall "$@"
    need confirm-firewall sha256
    local want=${opt[sha256]}
    # Stop the timer first: from here on the revert cannot fire halfway through the confirmation.
    disarm_revert
    if [ ! -f "$firewall_marker" ]; then
        if [ -f "$firewall_ruleset" ] && [ "$(sha256sum "$firewall_ruleset" | cut -d' ' -f1)" = "$want" ]; then
            enable_boot_unit "$boot_unit"
            echo "already confirmed $want"
            return 0
        fi
        die "the host restored its previous firewall by itself: the new ruleset was not confirmed over a new SSH connection in time (it probably cut SSH from where pulumi runs; see $firewall_state/reverts.log)"
    fi
    [ "$(cat "$firewall_marker")" = "$want" ] || die "the pending ruleset ($(cat "$firewall_marker")) is not the one this deployment applied ($want)"
    # Through a temporary file beside the boot ruleset, so a reader sees the old file or the new one.
    cp "$firewall_pending" "$firewall_ruleset.tmp"
    sync "$firewall_ruleset.tmp"
    mv -f "$firewall_ruleset.tmp" "$firewall_ruleset"
    rm -f "$firewall_marker" "$firewall_pending"
    enable_boot_unit "$boot_unit"
    echo "confirmed table $firewall_table ($want) over a new SSH connection; loaded at boot from $firewall_ruleset"
}

cmd_remove_firewall() {
    firewall_opts remove-firewall "$@"
    need remove-firewall unit-path
    root_dir "$(dirname "${opt[unit-path]}")"
    disarm_revert
    # One reload of systemd's unit files, after the files are gone (below), not one per step.
    systemctl disable --quiet --no-reload "$boot_unit" 2>/dev/null || true
    rm -f "${opt[unit-path]}" "$firewall_ruleset" "$firewall_pending" "$firewall_marker"
    rm -rf "$firewall_state"
    rmdir -p --ignore-fail-on-non-empty "$(dirname "$firewall_ruleset")" 2>/dev/null || true
    systemctl daemon-reload
    if nft list table "${table_words[@]}" >/dev/null 2>&1; then
        nft delete table "${table_words[@]}"
    fi
    echo "removed table $firewall_table"
}

# --- the pm2 apps: pm2-enable, pm2-apply (reload, health gate, rollback), pm2-save, pm2-mark-loaded, pm2-remove
# pm2 runs as the apps' user; `pm2 startup` gives it a systemd unit that resurrects the saved
# process list at boot, and `pm2 save` after every change keeps that list current.
#
# pm2's daemon is the apps' cluster master. Node's default (round-robin) scheduling has the master accept
# every connection and pass it to a worker over IPC; a connection passed to a worker that exits before
# it reads the message is never answered (measured in the lab: one or two requests hung per 20 rolling
# reloads). With NODE_CLUSTER_SCHED_POLICY=none each worker accepts from the shared socket itself, and a
# stopping worker leaves what it has not accepted to the others. It is read when the daemon starts: the
# unit gets it from a drop-in (pm2-enable), and a daemon this tool's pm2 calls start gets it here.
cluster_sched_env=NODE_CLUSTER_SCHED_POLICY=none
# pm2_as USER ARGS...: `pm2 ARGS` as USER, within the pm2-call deadline: the app user can stop its
# daemon, which then accepts the CLI's connection and never answers. (timeout --foreground stays in
# the step's process group, so the step's own deadline still reaches everything; sudo passes the
# SIGTERM on to pm2.)
pm2_as() {
    local user=$1; shift
    local home seconds pm2_bin status=0
    home=$(getent passwd "$user" | cut -d: -f6)
    [ -n "$home" ] || die "user $user does not exist"
    seconds=$(deadline pm2-call)
    pm2_bin=$(trusted_command pm2) || exit 1
    local pm2=(timeout --foreground --kill-after=2 "$seconds" sudo -u "$user" -H env "PM2_HOME=$home/.pm2" "$cluster_sched_env" "$pm2_bin" "$@")
    # pm2_quiet=1: pm2's own complaints discarded (deleting an app it does not have), never the deadline's.
    if [ -n "${pm2_quiet:-}" ]; then "${pm2[@]}" 2>/dev/null || status=$?; else "${pm2[@]}" || status=$?; fi
    case $status in
        124 | 137) die "pm2 did not answer \`pm2 $*\` for $user within $seconds s: its daemon is stopped or wedged (\`sudo -u $user pm2 ping\`)" ;;
    esac
    return "$status"
}

# pm2_unit_dropin USER: the drop-in that gives pm2's unit the cluster scheduling above.
pm2_unit_dropin() { echo "/etc/systemd/system/pm2-$1.service.d/limen-cluster.conf"; }

# pm2_package: the directory of the pm2 package whose CLI is on PATH (npm installs it as
# <package>/bin/pm2), for scripts that use pm2's programmatic API: the installed pm2, whatever its version.
pm2_package() {
    local cli
    cli=$(trusted_command pm2) || exit 1
    dirname "$(dirname "$cli")"
}

# pm2_cli_root_only: before root runs pm2's CLI (`pm2 startup`, `pm2 unstartup`), pm2's whole package
# must be one nobody but root can change (node and pm2's own file were checked with every command, in main).
pm2_cli_root_only() {
    local package
    package=$(pm2_package) || exit 1
    root_dir "$package"
}

# pm2_api_as USER SCRIPT ARGS...: runs a Node script as USER against USER's pm2 daemon; the script
# gets pm2's package directory, then ARGS, as process.argv[1...].
pm2_api_as() {
    local user=$1 script=$2 home package node
    shift 2
    home=$(getent passwd "$user" | cut -d: -f6)
    [ -n "$home" ] || die "user $user does not exist"
    package=$(pm2_package) || exit 1
    node=$(trusted_command node) || exit 1
    sudo -u "$user" -H env "PM2_HOME=$home/.pm2" "$cluster_sched_env" "$node" -e "$script" "$package" "$@"
}

# The apps' apply, in one Node process on pm2's API: start or gracefully reload every app of the
# ecosystem file with its current environment (`pm2 startOrReload FILE --update-env`), look every
# 0.1 s until each named app has all its processes online, then, with a gate, check the apps the way
# users reach them (below), and only then save the list for boot (`pm2 save --force`). As CLI calls
# this was three pm2 starts plus two Node starts per look, each a few tenths of a second of the CPU
# the starting apps need. pm2's own messages go to stdout (discarded); failures are said on stderr:
# exit 3 when the candidate (below) failed and nothing else was touched; 2 when pm2 refused the
# ecosystem, or the apps did not come online or failed the gate within SECONDS; 1 when pm2 itself
# could not be reached.
#
# The gate (the design's chain, as the runbook checks it): POST SESSION_URL answers 200 with a
# Set-Cookie, and GET SESSION_URL with that cookie answers {"valid":true} (the middleware and the
# backend behind it); GET PAGE_URL answers 200 (the darc.kr site). Tried every 0.5 s until all pass;
# what the last try saw is what a failure says.
#
# The candidate (CANDIDATE "candidate", with a gate): before the serving apps are touched, one process
# of each app as the new ecosystem defines it (script, arguments, environment, and the .env.production
# it reads from its directory at start) runs under pm2 as NAME-candidate, in fork mode, on a spare
# loopback port, and must pass the same gate through that port within SECONDS. A candidate that fails
# or exits is deleted and the run ends with exit 3: the serving apps never saw the change. Candidates
# are deleted before the reload either way, so pm2's saved list never holds one; one left by a run
# stopped at its deadline is deleted by the next.
# shellcheck disable=SC2016 # JavaScript, not shell
pm2_apply_script='
const [pm2Package, callSeconds, requestSeconds, ecosystem, appList, user, seconds, candidateMode, sessionUrl, pageUrl] = process.argv.slice(1);
const pm2 = require(pm2Package);
const http = require("http");
const net = require("net");
const apps = appList.split(",");
const message = (error) => (error && error.message ? error.message : Array.isArray(error) ? error.map(message).join("; ") : String(error));
const fail = (what, error, code = 1) => {
    console.error(`limen-host: pm2-apply: ${what}: ${message(error)}`);
    process.exit(code);
};
// within(WHAT, SECONDS, CODE, callback): the callback of one call into the pm2 daemon of the apps, which
// their user can stop (it then accepts the connection and never answers). Not called back in time,
// the run fails with CODE, saying which call it waited for and how long.
const within = (what, limit, code, callback) => {
    const timer = setTimeout(() => fail(what, `pm2 did not answer within ${limit} s: its daemon is stopped or wedged (sudo -u ${user} pm2 ping)`, code), Number(limit) * 1000);
    return (...args) => {
        clearTimeout(timer);
        callback(...args);
    };
};
// call(WHAT, pm2 function, args...): one call into the daemon, within the call deadline, as a promise.
const call = (what, fn, ...args) => new Promise((resolve, reject) => fn(...args, within(what, callSeconds, 1, (error, result) => (error ? reject(error) : resolve(result)))));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
// One request of the gate, with a deadline on the whole exchange, not only on silence: an app that
// answers one byte a second never goes idle.
const request = (method, url, headers) =>
    new Promise((resolve) => {
        const req = http.request(url, { method, headers }, (res) => {
            let body = "";
            res.setEncoding("utf8");
            res.on("data", (chunk) => (body += body.length < 2000 ? chunk : ""));
            res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body }));
        });
        const timer = setTimeout(() => req.destroy(new Error(`no complete answer within ${requestSeconds} s`)), Number(requestSeconds) * 1000);
        req.on("close", () => clearTimeout(timer));
        req.on("error", (error) => resolve({ error: error.code || error.message }));
        req.end();
    });
const said = (r) => (r.error ? r.error : `${r.status} ${JSON.stringify(r.body.slice(0, 120))}`);
async function sessionCheck(url) {
    const post = await request("POST", url, { "content-length": "0" });
    const cookie = post.headers && (post.headers["set-cookie"] || [])[0];
    if (post.status !== 200 || !cookie) return `session check: POST ${url} answered ${said(post)}${post.status === 200 ? " without Set-Cookie" : ""}`;
    const get = await request("GET", url, { cookie: cookie.split(";")[0] });
    let valid;
    try { valid = JSON.parse(get.body).valid; } catch { valid = undefined; }
    return get.status === 200 && valid === true ? "" : `session check: GET ${url} with the cookie answered ${said(get)}`;
}
async function pageCheck(url) {
    const page = await request("GET", url, {});
    return page.status === 200 ? "" : `darc.kr page: GET ${url} answered ${said(page)}`;
}
// gate(SESSION, PAGE, STOPPED): undefined once both checks pass, else why not and what the last try
// saw: after SECONDS, or as soon as STOPPED, if given, names a process that will never answer.
async function gate(session, page, stopped) {
    const deadline = Date.now() + Number(seconds) * 1000;
    for (;;) {
        const problems = (await Promise.all([sessionCheck(session), pageCheck(page)])).filter(Boolean);
        if (problems.length === 0) return undefined;
        const gone = stopped ? await stopped() : "";
        if (gone) return { why: gone, problems: problems.join("; ") };
        if (Date.now() + 500 > deadline) return { why: `not passed within ${seconds} s`, problems: problems.join("; ") };
        await sleep(500);
    }
}
// The ecosystem as pm2 reads it (a module; root installed and checked it). The port of an app is the value
// after -p/--port in its args, as the rendered file has it.
const portArg = (args) => Math.max(args.indexOf("-p"), args.indexOf("--port"));
const sparePort = (host) =>
    new Promise((resolve, reject) => {
        const server = net.createServer();
        server.on("error", reject);
        server.listen(0, host, () => {
            const { port } = server.address();
            server.close(() => resolve(port));
        });
    });
const candidateName = (name) => `${name}-candidate`;
// Fixed names, so that every deploy writes the same two files (pm2 names a log after the process id
// otherwise, a new pair per deploy), which the rotation of the pm2 logs keeps bounded like the others.
const logFile = (name, stream) => `${process.env.PM2_HOME}/logs/${candidateName(name)}-${stream}.log`;
const logs = (name) => logFile(name, "{out,error}");
async function removeCandidates() {
    for (const name of apps) await call(`deleting ${candidateName(name)}`, pm2.delete.bind(pm2), candidateName(name)).catch(() => undefined);
}
async function candidate() {
    const defined = (require(ecosystem).apps || []).filter((app) => apps.includes(app.name));
    // Each app: its definition, its serving port, and a spare port on the same address for its candidate.
    const plans = [];
    for (const name of apps) {
        const app = defined.find((a) => a.name === name);
        const args = app && Array.isArray(app.args) ? app.args.map(String) : [];
        const at = portArg(args);
        if (!app || at < 0 || at + 1 >= args.length) fail("candidate", `${ecosystem} defines no app ${name} with -p PORT in its args, so no candidate of it can run`, 2);
        const h = args.indexOf("-H");
        const host = h >= 0 && h + 1 < args.length ? args[h + 1] : (app.env && app.env.HOSTNAME) || "127.0.0.1";
        const candidateArgs = [...args];
        candidateArgs[at + 1] = String(await sparePort(host));
        plans.push({ name, app, serving: args[at + 1], port: candidateArgs[at + 1], args: candidateArgs });
    }
    // The gate URLs name the serving ports; the candidate of the app on that port answers instead.
    const through = (url) => {
        const parsed = new URL(url);
        const plan = plans.find((p) => p.serving === parsed.port);
        if (!plan) fail("candidate", `the gate URL ${url} names no port of the apps ${apps.join(", ")}`, 2);
        parsed.port = plan.port;
        return parsed.toString();
    };
    const urls = [through(sessionUrl), through(pageUrl)];
    for (const { name, app, port, args } of plans)
        await call(`starting ${candidateName(name)}`, pm2.start.bind(pm2), {
            name: candidateName(name),
            cwd: app.cwd,
            script: app.script,
            args,
            exec_mode: "fork",
            instances: 1,
            autorestart: false,
            time: true,
            out_file: logFile(name, "out"),
            error_file: logFile(name, "error"),
            merge_logs: true,
            env: { ...(app.env || {}), PORT: port },
        });
    const stopped = async () => {
        const list = await call("listing the candidates", pm2.list.bind(pm2));
        const gone = plans.filter(({ name }) => {
            const proc = list.find((p) => p.name === candidateName(name));
            return !proc || ["stopped", "errored"].includes(proc.pm2_env.status);
        });
        return gone.map(({ name }) => `${candidateName(name)} exited (its output: ${logs(name)})`).join("; ");
    };
    const result = await gate(...urls, stopped);
    await removeCandidates();
    const where = plans.map(({ name, port }) => `${name} on port ${port}`).join(", ");
    if (result) fail(`the new release, run as a candidate (${where}) before the serving apps were touched, failed the health gate: ${result.why}`, result.problems, 3);
}
const look = async (deadline) => {
    for (;;) {
        const list = await call("listing the apps", pm2.list.bind(pm2));
        const waiting = apps.filter((name) => {
            const procs = list.filter((p) => p.name === name);
            return !(procs.length > 0 && procs.every((p) => p.pm2_env.status === "online"));
        });
        // A process that exits after the reload is waited for too: pm2 restarts it, and a rolling reload
        // that moves the address of the apps has the new processes fail to bind until the old ones are gone.
        if (waiting.length === 0) return;
        if (Date.now() > deadline) fail("waiting", `pm2 app(s) ${waiting.join(" ")} not online after ${seconds} s; see: sudo -u ${user} pm2 logs`, 2);
        await sleep(100);
    }
};
(async () => {
    await call("connecting to pm2", pm2.connect.bind(pm2));
    if (sessionUrl) await removeCandidates();
    if (sessionUrl && candidateMode === "candidate") await candidate();
    // Refused by pm2 (a script that is not there, say), or not done in the time the apps have to
    // come online: the change cannot run, as when it fails the gate.
    const deadline = Date.now() + Number(seconds) * 1000;
    await new Promise((resolve) =>
        pm2.reload(ecosystem, { updateEnv: true }, within(`starting or reloading ${ecosystem}`, seconds, 2, (error) => (error ? fail(`starting or reloading ${ecosystem}`, error, 2) : resolve()))),
    );
    await look(deadline);
    if (sessionUrl) {
        const result = await gate(sessionUrl, pageUrl);
        if (result) fail(`health gate, ${result.why}`, result.problems, 2);
    }
    await call("saving the process list", pm2.dump.bind(pm2), true);
    process.exit(0);
})().catch((error) => fail("pm2", error));
'

# pm2-enable: pm2's boot unit for the user (with the cluster drop-in), enabled and started; with
# --log-rotation-timer, the timer that rotates pm2's logs (its units installed as files), enabled and
# started. --home is the plan's home of the user (limen:apps.home): pm2 keeps its logs there, and the
# rotation's config names them, so a host where the user's home is another is refused.
cmd_pm2_enable() {
    opts pm2-enable "user marker-dir home log-rotation-timer" "$@"
    need pm2-enable user marker-dir
    need_deadlines pm2-call
    local user=${opt[user]} home pm2_bin
    command -v pm2 >/dev/null || die "pm2 is not installed on this host"
    home=$(getent passwd "$user" | cut -d: -f6)
    [ -n "$home" ] || die "user $user does not exist"
    if [ -n "${opt[home]:-}" ] && [ "${opt[home]}" != "$home" ]; then
        die "pm2-enable: the home of $user on this host is $home, not ${opt[home]} (limen:apps.home, default /home/$user): pm2 keeps its logs there, and their rotation names them; set limen:apps.home to $home"
    fi
    root_dir --create 0755 "${opt[marker-dir]}"
    # The drop-in before the unit and its daemon start. A daemon already running keeps the scheduling
    # it started with until its next start (a reboot): restarting it here would take the apps down.
    local dropin dropin_text
    dropin=$(pm2_unit_dropin "$user")
    dropin_text=$(printf '# Written by limen-host (pm2-enable): see cluster_sched_env there.\n[Service]\nEnvironment=%s' "$cluster_sched_env")
    root_dir --create 0755 "$(dirname "$dropin")"
    if [ "$(cat "$dropin" 2>/dev/null)" != "$dropin_text" ]; then
        printf '%s\n' "$dropin_text" | install_file "$dropin" 0644 root:root none
        systemctl daemon-reload
    fi
    if [ ! -f "/etc/systemd/system/pm2-$user.service" ]; then
        pm2_cli_root_only
        # Writes pm2's own unit for the user and enables it.
        pm2_bin=$(trusted_command pm2) || exit 1
        timeout --foreground --kill-after=2 "$(deadline pm2-call)" env PATH="$PATH" "$pm2_bin" startup systemd -u "$user" --hp "$home" >/dev/null ||
            die "pm2-enable: \`pm2 startup systemd -u $user\` failed or did not finish within $(deadline pm2-call) s"
        touch "${opt[marker-dir]}/startup-$user"
    fi
    # Enabled as well as started: a unit disabled by hand would leave the apps down after a reboot.
    # Asked first: `systemctl enable` reloads systemd's unit files, a few tenths of a second.
    systemctl is-enabled --quiet "pm2-$user.service" || systemctl enable --quiet "pm2-$user.service"
    # The daemon belongs under its unit, not under an SSH session: starting the unit (it resurrects
    # the saved list) makes the daemon outlive the session and come back after a reboot.
    systemctl start "pm2-$user.service"
    if [ -n "${opt[log-rotation-timer]:-}" ]; then enable_log_rotation "${opt[log-rotation-timer]}"; fi
    echo "pm2 enabled for $user"
}

# enable_log_rotation TIMER: the timer (and the service it starts, both installed as files before this
# runs) loaded as installed, enabled and started; systemd's unit files are reloaded only when they changed.
enable_log_rotation() {
    local timer=$1 service=${1%.timer}.service unit
    command -v logrotate >/dev/null || die "pm2-enable: logrotate is not installed on this host: install Debian's logrotate package (it rotates pm2's logs, limen:apps.logs)"
    for unit in "$timer" "$service"; do
        if [ "$(systemctl show --property=NeedDaemonReload --value "$unit")" = yes ] ||
            [ "$(systemctl show --property=LoadState --value "$unit")" != loaded ]; then
            systemctl daemon-reload
            break
        fi
    done
    systemctl is-enabled --quiet "$timer" || systemctl enable --quiet "$timer"
    systemctl is-active --quiet "$timer" || systemctl start "$timer"
}

# mark_loaded USER MARKER_DIR FILES: records what the apps loaded (the files' sha256, as `sha256sum`
# prints them), so a later read can tell apps running stale files from a file merely rewritten with the
# same content. The files are read as limen_file reads them: .env.production sits in the app user's
# directory, and a link or a FIFO there is left out of the record, neither followed nor waited on.
mark_loaded() {
    local user=$1 dir=$2 files=$3 list
    root_dir --create 0755 "$dir"
    IFS=, read -r -a list <<<"$files"
    limen_file read "${list[@]}" | awk -F'\t' '$1 == "file" { print $5 "  " $6 }' >"$dir/loaded-$user.sha256.tmp"
    mv -f "$dir/loaded-$user.sha256.tmp" "$dir/loaded-$user.sha256"
}

# The apps' files for pm2-apply, from stdin: one line per file, `new|previous PATH MODE OWNER CHECK
# BASE64` (hostio/host-tool.ts, pm2FileSets): the planned files, and the ones of the version the stack
# last deployed (from its state, secrets included), which come back when the new ones fail. Held on
# tmpfs, root-only, and removed when the tool exits: nothing about a deploy stays on the host. Each
# set is SETS/KIND/N (content) and SETS/KIND/files (`MODE OWNER CHECK N PATH` per line).
read_file_sets() {
    local kind path mode owner check content n=0
    sets_dir=$(mktemp -d /run/limen-host-sets.XXXXXX)
    mkdir -m 0700 -- "$sets_dir/new" "$sets_dir/previous"
    : >"$sets_dir/new/files"
    : >"$sets_dir/previous/files"
    # Bounded: two sets of a few files, each within limen-file's limit once decoded.
    while read -r kind path mode owner check content; do
        case $kind in new | previous) ;; *) die "pm2-apply: stdin: a line of kind '$kind', not new or previous" ;; esac
        [[ $mode =~ ^0[0-7]{3}$ ]] || die "pm2-apply: stdin: mode '$mode' for $path is not an octal mode"
        [[ $owner =~ ^[a-z_][a-z0-9_-]*:[a-z_][a-z0-9_-]*$ ]] || die "pm2-apply: stdin: owner '$owner' for $path is not user:group"
        case $check in none | ecosystem) ;; *) die "pm2-apply: stdin: check '$check' for $path is not none or ecosystem" ;; esac
        n=$((n + 1))
        printf '%s' "$content" | base64 -d >"$sets_dir/$kind/$n" 2>/dev/null || die "pm2-apply: stdin: the content for $path is not base64"
        printf '%s %s %s %s %s\n' "$mode" "$owner" "$check" "$n" "$path" >>"$sets_dir/$kind/files"
    done < <(head -c $((8 * 1024 * 1024)))
}

# forget_earlier_copies USER MARKER_DIR: what versions before the release kept its own files kept of the
# apps' files under the (root-only) marker directory: the set that last passed the gate and a change it
# sent back, .env.production's secrets among them. Removed by the first deploy, and by pm2-remove.
forget_earlier_copies() {
    rm -rf -- "$2/good-$1" "$2/good-$1.new" "$2/pending-$1" "$2/pending-$1.new"
}

# set_paths KIND: the paths of a set, comma-separated, in order (as --loaded lists them).
set_paths() { awk '{ print $5 }' "$sets_dir/$1/files" | paste -sd, -; }

# set_sha256 KIND: one sha256 over the contents of a set's files, in order (to tell two sets apart).
set_sha256() {
    local mode owner check n path
    while read -r mode owner check n path; do
        sha256sum <"$sets_dir/$1/$n" | cut -c1-64
    done <"$sets_dir/$1/files" | head -c -1 | sha256sum | cut -c1-64
}

# stage_current_set FILES: the previous set from the host's own files, when the stack's state had none
# to give (the first deploy after an upgrade from a version that kept no such state): what serves now
# is what comes back. Read as limen-file reads (a link or a FIFO is no file, and ends the set empty).
stage_current_set() {
    local path n=0 list mode owner check
    IFS=, read -r -a list <<<"$1"
    for path in "${list[@]}"; do
        mode=""
        read -r mode owner < <(limen_file read "$path" | awk -F'\t' '$1 == "file" { print $2, $3 }') || true
        if [ -z "${mode:-}" ]; then
            : >"$sets_dir/previous/files"
            return 0
        fi
        n=$((n + 1))
        limen_file cat "$path" >"$sets_dir/previous/$n" || exit 1
        check=none
        [ "$path" = "${opt[ecosystem]}" ] && check=ecosystem
        printf '%s %s %s %s %s\n' "$mode" "$owner" "$check" "$n" "$path" >>"$sets_dir/previous/files"
    done
}

# install_set KIND: every file of the set at its path, through the same validated install as any
# file (the ecosystem checked as data first).
install_set() {
    local mode owner check n path
    while read -r mode owner check n path; do
        install_file "$path" "$mode" "$owner" "$check" <"$sets_dir/$1/$n" >/dev/null
    done <"$sets_dir/$1/files"
}

# reload_and_gate CANDIDATE: one run of pm2_apply_script for cmd_pm2_apply (its user, apps, seconds
# and gate), with a candidate first ("candidate") or without ("none": a rollback to files that passed);
# pm2's own output is discarded, the failure said on stdout for the caller to capture.
reload_and_gate() {
    # shellcheck disable=SC2069 # on purpose: stderr to the caller's capture, stdout discarded
    pm2_api_as "$user" "$pm2_apply_script" "$(deadline pm2-call)" "$(deadline gate-request)" "${opt[ecosystem]}" "$apps" "$user" "$seconds" "$1" "${gate_args[@]}" 2>&1 >/dev/null
}

# pm2-apply: the apps' release. stdin holds the planned files and the previous ones (read_file_sets);
# the planned ones are installed (the same validated install as any file), then, with --gate-seconds
# (and the gate's URLs), a candidate of them must pass the health gate before the serving apps are
# touched (pm2_apply_script); if it does not, the previous files come back and nothing else changed.
# Then the apps are started or reloaded and must come online and pass the gate in that time; if they
# do not, the previous files come back, the apps are reloaded and checked again, and the command fails
# saying what it saw and that it rolled back. The stack's state keeps the previous version, so the
# next `pulumi up` tries the change again.
cmd_pm2_apply() {
    opts pm2-apply "user ecosystem apps marker-dir loaded gate-seconds gate-session gate-page" "$@"
    need pm2-apply user ecosystem apps marker-dir loaded
    need_deadlines pm2-call gate-request
    local user=${opt[user]} apps=${opt[apps]} seconds=${opt[gate-seconds]:-60} status=0 problem
    local gate_args=()
    if [ -n "${opt[gate-seconds]:-}" ]; then
        need pm2-apply gate-session gate-page
        [[ ${opt[gate-seconds]} =~ ^[1-9][0-9]*$ ]] || die "pm2-apply: --gate-seconds must be a whole number of seconds, got '${opt[gate-seconds]}'"
        gate_args=("${opt[gate-session]}" "${opt[gate-page]}")
    fi
    command -v pm2 >/dev/null || die "pm2 is not installed on this host"
    root_dir --create 0755 "${opt[marker-dir]}"
    forget_earlier_copies "$user" "${opt[marker-dir]}"
    read_file_sets
    [ "$(set_paths new)" = "${opt[loaded]}" ] ||
        die "pm2-apply: stdin's planned files ($(set_paths new)) are not the files the apps load (${opt[loaded]})"
    if [ ! -s "$sets_dir/previous/files" ]; then
        stage_current_set "${opt[loaded]}"
    elif [ "$(set_paths previous)" != "${opt[loaded]}" ]; then
        die "pm2-apply: stdin's previous files ($(set_paths previous)) are not the files the apps load (${opt[loaded]})"
    fi
    local has_previous=false changed=true
    [ -s "$sets_dir/previous/files" ] && has_previous=true
    if $has_previous && [ "$(set_sha256 previous)" = "$(set_sha256 new)" ]; then changed=false; fi
    install_set new
    # A candidate first when the files are a new version; the same version (a repair, say, of apps
    # deleted by hand) already passed the gate and is not judged again before it serves.
    local candidate=none
    if [ ${#gate_args[@]} -gt 0 ] && $changed; then candidate=candidate; fi
    problem=$(reload_and_gate "$candidate") || status=$?
    if [ "$status" -eq 0 ]; then
        mark_loaded "$user" "${opt[marker-dir]}" "${opt[loaded]}"
        echo "pm2 apps online: $apps"
        return 0
    fi
    if [ "$status" -eq 3 ]; then
        # The candidate failed: the serving apps never saw the change; the files they run with come back.
        problem=${problem#limen-host: pm2-apply: }
        $has_previous ||
            die "pm2-apply: ${problem}. The serving apps were not touched; there are no earlier files to put back (a first deploy), so the new ones stay in place, not loaded"
        install_set previous
        die "pm2-apply: ${problem}. Rolled back: the serving apps were not touched, and the previous ecosystem and .env.production are in place again; the change is not applied"
    fi
    if [ "$status" -ne 2 ] || [ ${#gate_args[@]} -eq 0 ]; then die "${problem#limen-host: }"; fi
    problem=${problem#limen-host: pm2-apply: }
    $has_previous || die "pm2-apply: ${problem}; there are no earlier files to put back (a first deploy), so nothing was rolled back"
    local again_status=0 again
    if ! $changed; then
        # The files are the ones the apps last passed with: nothing to roll back to. What failed was the
        # processes' change, such as a reload that moves the apps' address, whose new processes cannot
        # bind until the old ones are gone: the apps are reloaded once more with the same files.
        again=$(reload_and_gate none) || again_status=$?
        [ "$again_status" -eq 0 ] ||
            die "pm2-apply: ${problem}; the files are the ones the apps last passed the gate with, and a second reload failed too: ${again#limen-host: pm2-apply: }"
        mark_loaded "$user" "${opt[marker-dir]}" "${opt[loaded]}"
        echo "pm2 apps online: $apps (on a second reload with the same files; the first: $problem)"
        return 0
    fi
    install_set previous
    local started=$SECONDS
    again=$(reload_and_gate none) || again_status=$?
    if [ "$again_status" -eq 0 ]; then
        mark_loaded "$user" "${opt[marker-dir]}" "${opt[loaded]}"
        die "pm2-apply: ${problem}. Rolled back: the previous ecosystem and .env.production are in place again and the apps passed the gate with them in $((SECONDS - started)) s; the change is not applied"
    fi
    die "pm2-apply: ${problem}. Rolled back to the previous ecosystem and .env.production, but the apps fail with them too: ${again#limen-host: pm2-apply: }"
}

# pm2-save: the saved list (~/.pm2/dump.pm2, what pm2's unit resurrects at boot) written again from
# the running apps, as the apps' user: `pm2 save --force`, which also replaces a list deleted by hand.
cmd_pm2_save() {
    opts pm2-save "user" "$@"
    need pm2-save user
    need_deadlines pm2-call
    command -v pm2 >/dev/null || die "pm2 is not installed on this host"
    pm2_as "${opt[user]}" save --force >/dev/null || die "pm2-save: pm2 save failed for ${opt[user]}"
    echo "saved the pm2 process list of ${opt[user]}"
}

cmd_pm2_mark_loaded() {
    opts pm2-mark-loaded "user marker-dir loaded" "$@"
    need pm2-mark-loaded user marker-dir loaded
    mark_loaded "${opt[user]}" "${opt[marker-dir]}" "${opt[loaded]}"
    echo "recorded the files the pm2 apps of ${opt[user]} run with"
}

cmd_pm2_remove() {
    opts pm2-remove "user apps marker-dir log-rotation-timer" "$@"
    need pm2-remove user apps marker-dir
    need_deadlines pm2-call
    local user=${opt[user]} apps=${opt[apps]} app pm2_bin
    # The rotation's timer stops with the apps; its unit files go with their own resources.
    if [ -n "${opt[log-rotation-timer]:-}" ]; then systemctl disable --now --quiet "${opt[log-rotation-timer]}" 2>/dev/null || true; fi
    if [ -e "${opt[marker-dir]}" ]; then root_dir "${opt[marker-dir]}"; fi
    if command -v pm2 >/dev/null && getent passwd "$user" >/dev/null; then
        # With each app, its candidate, should a deploy stopped at its deadline have left one.
        for app in ${apps//,/ }; do
            pm2_quiet=1 pm2_as "$user" delete "$app" >/dev/null || true
            pm2_quiet=1 pm2_as "$user" delete "$app-candidate" >/dev/null || true
        done
        pm2_as "$user" save --force >/dev/null
        if [ -f "${opt[marker-dir]}/startup-$user" ]; then
            pm2_cli_root_only
            pm2_bin=$(trusted_command pm2) || exit 1
            timeout --foreground --kill-after=2 "$(deadline pm2-call)" env PATH="$PATH" "$pm2_bin" unstartup systemd -u "$user" >/dev/null 2>&1 || true
            rm -f "${opt[marker-dir]}/startup-$user"
        fi
        if [ -e "$(pm2_unit_dropin "$user")" ]; then
            rm -f "$(pm2_unit_dropin "$user")"
            rmdir --ignore-fail-on-non-empty "$(dirname "$(pm2_unit_dropin "$user")")"
            systemctl daemon-reload
        fi
    fi
    # The record of what the apps loaded goes with them, and any copies an earlier version kept.
    if [ -e "${opt[marker-dir]}" ]; then
        forget_earlier_copies "$user" "${opt[marker-dir]}"
        rm -f -- "${opt[marker-dir]}/loaded-$user.sha256"
    fi
    echo "pm2 apps removed: $apps"
}

# --- the front door's release: envoy-release, envoy-settle, envoy-forget ------------------------------------------
# The front door's gate, after Docker replaced Envoy's container: an https request to 127.0.0.1 on the
# https port with each site's name (SNI and Host) must get an answer from the site (a status below
# 500; a route to an app that does not answer is Envoy's 503), within SECONDS. Tried every 0.5 s; what
# the last try saw is what a failure says. Certificates are not judged here (verify and the ACME
# checks do): only that the door answers.
# shellcheck disable=SC2016 # JavaScript, not shell
envoy_gate_script='
const [port, namesText, seconds, requestSeconds] = process.argv.slice(1);
const https = require("https");
const names = namesText.split(",");
const deadline = Date.now() + Number(seconds) * 1000;
// Each request has a deadline on the whole exchange, not only on silence (an answer that trickles in never goes idle).
const ask = (name) =>
    new Promise((resolve) => {
        const req = https.request({ host: "127.0.0.1", port: Number(port), path: "/", servername: name, headers: { host: name }, rejectUnauthorized: false }, (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode < 500 ? "" : `https://${name}/ (127.0.0.1:${port}) answered ${res.statusCode}`));
        });
        const timer = setTimeout(() => req.destroy(new Error(`no complete answer within ${requestSeconds} s`)), Number(requestSeconds) * 1000);
        req.on("close", () => clearTimeout(timer));
        req.on("error", (error) => resolve(`https://${name}/ (127.0.0.1:${port}): ${error.code || error.message}`));
        req.end();
    });
const attempt = async () => {
    const problems = (await Promise.all(names.map(ask))).filter(Boolean);
    if (problems.length === 0) process.exit(0);
    if (Date.now() + 500 > deadline) {
        console.log(`front door gate, not passed within ${seconds} s: ${problems.join("; ")}`);
        process.exit(2);
    }
    setTimeout(attempt, 500);
};
attempt();
'

# envoy_gate PORT NAMES SECONDS: the gate above, as nobody (it only makes requests); its words on stdout.
envoy_gate() {
    local node
    node=$(trusted_command node) || exit 1
    sudo -n -u nobody -- "$node" -e "$envoy_gate_script" "$@" "$(deadline gate-request)"
}

# One request to an Envoy's admin, by root: on the container's unix socket (in a root-only directory),
# or on 127.0.0.1:PORT for a container from before the admin moved to a socket (only ever asked to
# drain: whoever holds that port gains nothing by the request). The answer is capped at 1 MiB. With
# /listeners?format=json it prints one line per bound listener: `NAME PORT`.
# shellcheck disable=SC2016 # JavaScript, not shell
envoy_admin_script='
const [where, method, path, seconds] = process.argv.slice(1);
const target = /^[0-9]+$/.test(where) ? { host: "127.0.0.1", port: Number(where) } : { socketPath: where };
const req = require("http").request({ ...target, method, path }, (res) => {
    let body = "";
    res.setEncoding("utf8");
    res.on("data", (chunk) => {
        body += chunk;
        if (body.length > 1048576) req.destroy(new Error("an answer over 1 MiB"));
    });
    res.on("end", () => {
        if (res.statusCode !== 200) {
            console.error(`${method} ${path} answered ${res.statusCode}`);
            process.exit(1);
        }
        if (!path.startsWith("/listeners")) return process.stdout.write(body);
        for (const status of JSON.parse(body).listener_statuses ?? []) {
            console.log(`${status.name} ${status.local_address?.socket_address?.port_value ?? 0}`);
        }
    });
});
const timer = setTimeout(() => req.destroy(new Error(`no answer within ${seconds} s`)), Number(seconds) * 1000);
req.on("close", () => clearTimeout(timer));
req.on("error", (error) => {
    console.error(`${method} ${path}: ${error.code || error.message}`);
    process.exit(1);
});
req.end();
'

# envoy_admin NAME|PORT METHOD PATH: the admin of the container NAME (its socket under the state
# directory) or of the one whose admin is on PORT.
envoy_admin() {
    local where=$1 node
    node=$(trusted_command node) || exit 1
    [[ $where =~ ^[0-9]+$ ]] || where="$envoy_state/admin/$where/admin.sock"
    "$node" -e "$envoy_admin_script" "$where" "$2" "$3" "$(deadline gate-request)"
}

# The Envoy release's containers and files (plan/envoy.ts): the serving container (the Docker
# provider's), the candidate that judges a new config on ports the kernel picks on 127.0.0.1, and the
# standby that serves the new config on the public ports beside the serving container (SO_REUSEPORT)
# while the Docker provider replaces it. Each has its admin socket in a root-only directory of its own,
# mounted at /run/limen-envoy; the candidate and the standby run on a copy of their config kept beside.
envoy_state=""
envoy_candidate=limen-envoy-candidate
envoy_standby=limen-envoy-standby
envoy_command=()

# envoy_remove NAME: the container and its files gone (a container that is not there is no error).
envoy_remove() {
    docker rm --force "$1" >/dev/null 2>&1 || true
    rm -rf -- "${envoy_state:?}/admin/$1" "$envoy_state/$1.yaml" "$envoy_state/$1.dynamic"
}

# envoy_run NAME CONFIG [LDS CDS]: NAME started detached from the image, as the serving container runs
# (host network, ENVOY_UID=0, the certificate directories read-only), on CONFIG (copied beside), with a
# fresh admin directory and, for a bootstrap with dynamic resources, a directory of its own holding
# copies of LDS and CDS. Not restarted by Docker: a container that stops is a finding, not something to
# retry.
envoy_run() {
    local name=$1 mount
    local args=(--detach --name "$name" --network host --restart no -e ENVOY_UID=0 --label "limen.envoy.role=${name#limen-envoy-}"
        --log-driver json-file --log-opt max-size=10m --log-opt max-file=1)
    envoy_remove "$name"
    install -m 0600 -- "$2" "$envoy_state/$name.yaml"
    mkdir -m 0700 -- "$envoy_state/admin/$name"
    args+=(-v "$envoy_state/$name.yaml:/etc/envoy/envoy.yaml:ro" -v "$envoy_state/admin/$name:/run/limen-envoy")
    if [ $# -ge 4 ]; then
        mkdir -m 0700 -- "$envoy_state/$name.dynamic"
        install -m 0600 -- "$3" "$envoy_state/$name.dynamic/lds.yaml"
        install -m 0600 -- "$4" "$envoy_state/$name.dynamic/cds.yaml"
        args+=(-v "$envoy_state/$name.dynamic:/etc/envoy/dynamic:ro")
    fi
    for mount in "${envoy_mounts[@]}"; do
        root_dir "$mount"
        args+=(-v "$mount:$mount:ro")
    done
    docker run "${args[@]}" "$envoy_image" "${envoy_command[@]}" >/dev/null || die "envoy-release: docker run $name failed"
}

# envoy_wait_ready NAME SECONDS: NAME's admin says LIVE within SECONDS, or the run stops saying what
# NAME printed (a port it cannot bind, a file it cannot read) and what it became.
envoy_wait_ready() {
    local name=$1 seconds=$2 started=$SECONDS running
    while [ $((SECONDS - started)) -lt "$seconds" ]; do
        if [ "$(envoy_admin "$name" GET /ready 2>/dev/null)" = LIVE ]; then return 0; fi
        running=$(docker inspect --format '{{.State.Running}}' "$name" 2>/dev/null || echo gone)
        if [ "$running" != true ]; then
            echo "$name stopped before it was ready; its last words: $(docker logs --tail 5 "$name" 2>&1 | tr '\n' ' ' | cut -c1-600)"
            return 1
        fi
        sleep 0.2
    done
    echo "$name was not ready within $seconds s; its last words: $(docker logs --tail 5 "$name" 2>&1 | tr '\n' ' ' | cut -c1-600)"
    return 1
}

# envoy_drain NAME|PORT SECONDS: the Envoy stops taking connections gracefully (its clients are told
# to close theirs; its listeners close after SECONDS, Envoy's --drain-time-s), and the wait is over
# when they have closed. What is then still connected finishes when the container stops.
envoy_drain() {
    local where=$1 seconds=$2
    envoy_admin "$where" POST "/drain_listeners?graceful&inboundonly" >/dev/null || return 1
    sleep "$seconds"
    sleep 1
}

# envoy_setup: the options every Envoy release subcommand shares.
envoy_setup() {
    local sub=$1
    need "$sub" container state-dir https-port names seconds drain-seconds
    need_deadlines gate-request envoy-validate
    [[ ${opt[seconds]} =~ ^[1-9][0-9]*$ ]] || die "$sub: --seconds must be a whole number of seconds, got '${opt[seconds]}'"
    [[ ${opt[drain-seconds]} =~ ^[1-9][0-9]*$ ]] || die "$sub: --drain-seconds must be a whole number of seconds, got '${opt[drain-seconds]}'"
    [[ ${opt[https-port]} =~ ^[1-9][0-9]*$ ]] || die "$sub: --https-port must be a port number, got '${opt[https-port]}'"
    envoy_state=${opt[state-dir]}
    root_dir --create 0700 "$envoy_state"
    root_dir --create 0700 "$envoy_state/admin"
    envoy_command=(envoy -c /etc/envoy/envoy.yaml --drain-time-s "${opt[drain-seconds]}")
}

# legacy_admin_port CONFIG: the admin port of an installed config from before the admin moved to a
# socket (`port_value` under `admin:`), or nothing.
legacy_admin_port() {
    [ -f "$1" ] || return 0
    # Root reads it only in a directory nobody else can change, and at most 1 MiB of it.
    root_dir "$(dirname "$1")"
    head -c 1048576 -- "$1" | awk '/^admin:/ { inside = 1; next } /^[^ #]/ { inside = 0 } inside && /port_value:/ { print $2; exit }'
}

# envoy_applied NAME LDS_VERSION CDS_VERSION REJECTED_BEFORE SECONDS: the Envoy in container NAME
# reports both versions as applied (its admin's version_text), or it rejected a file (an
# update_rejected count above REJECTED_BEFORE, "LDS CDS"), or SECONDS pass; a failure says which,
# with what Envoy logged about it.
envoy_applied() {
    local name=$1 lds=$2 cds=$3 before=$4 seconds=$5 started=$SECONDS stats
    local filter='/stats?filter=^(listener_manager[.]lds|cluster_manager[.]cds)[.](version_text|update_rejected)$'
    while [ $((SECONDS - started)) -lt "$seconds" ]; do
        stats=$(envoy_admin "$name" GET "$filter" 2>/dev/null) || { sleep 0.2; continue; }
        if [ "$(envoy_rejected "$stats")" != "$before" ]; then
            echo "Envoy rejected the new listeners or clusters; it logged: $(docker logs --since "$((SECONDS - started + 2))s" "$name" 2>&1 | grep -i -E 'reject|error' | tail -n 3 | tr '\n' ' ' | cut -c1-600)"
            return 1
        fi
        if grep -qx "listener_manager.lds.version_text: \"$lds\"" <<<"$stats" && grep -qx "cluster_manager.cds.version_text: \"$cds\"" <<<"$stats"; then
            return 0
        fi
        sleep 0.2
    done
    echo "Envoy did not report listeners $lds and clusters $cds as applied within $seconds s"
    return 1
}

# envoy_rejected STATS: "LDS CDS", the update_rejected counts in an answer of /stats.
envoy_rejected() {
    awk '$1 == "listener_manager.lds.update_rejected:" { l = $2 } $1 == "cluster_manager.cds.update_rejected:" { c = $2 } END { print l + 0, c + 0 }' <<<"$1"
}

# envoy_install_dynamic DIR LDS CDS ORDER: both files renamed into DIR, the directory Envoy watches. With
# cds-first the clusters go first (a new route finds its cluster); with lds-first the listeners do (a
# cluster that goes away is no longer named by a route). The stack decides which (moveOrder).
envoy_install_dynamic() {
    case "$4" in
        cds-first)
            install_file "$1/cds.yaml" 0644 root:root none <"$3"
            install_file "$1/lds.yaml" 0644 root:root none <"$2"
            ;;
        lds-first)
            install_file "$1/lds.yaml" 0644 root:root none <"$2"
            install_file "$1/cds.yaml" 0644 root:root none <"$3"
            ;;
        *) die "envoy-release: --order must be cds-first or lds-first, got '$4'" ;;
    esac
}

# envoy-release: a new Envoy config (or image) reaches the door without dropping a request. stdin: one
# line per file, `KIND BASE64`: validate (the whole config as one static bootstrap), candidate (the
# same on ports the kernel picks on 127.0.0.1), bootstrap (what the container runs), lds and cds (its
# dynamic resources), and, when the stack's state has them, previous-lds and previous-cds.
#  1. `envoy --mode validate` in the image judges the whole config.
#  2. The candidate runs it on loopback, and the front door's gate (envoy_gate) must pass through it.
#  3. --mode in-place (the bootstrap and the image are the serving container's): the clusters, then the
#     listeners are moved into the directory the container watches; Envoy applies them without
#     closing its sockets (a listener on an address it already serves keeps its socket, and the
#     previous one's connections drain). The release waits until Envoy reports both versions as
#     applied, and the gate must pass through the door. If Envoy rejects a file or the gate fails, the
#     previous files come back (from the stack's state) and the command fails, saying so.
#  3. --mode handover (a new bootstrap or image: the Docker provider replaces the container next): with
#     a container serving now, the standby starts on the public ports beside it (SO_REUSEPORT); the
#     bootstrap and the dynamic files are installed; the serving container drains, so only the standby
#     takes new connections while the container is replaced.
# A failure at 1 or 2, or at the standby's start, changes nothing the door serves.
cmd_envoy_release() {
    opts envoy-release "mode config dynamic-dir lds-version cds-version order previous-lds-version previous-cds-version rollback-order container state-dir https-port names seconds drain-seconds envoy-image mount" "$@"
    need envoy-release mode config dynamic-dir lds-version cds-version order envoy-image
    envoy_setup envoy-release
    envoy_image=${opt[envoy-image]}
    local mode=${opt[mode]} config=${opt[config]} dir=${opt[dynamic-dir]} container=${opt[container]}
    local kind text problem status=0 port="" running=""
    [[ $mode = in-place || $mode = handover ]] || die "envoy-release: --mode must be in-place or handover, got '$mode'"
    release_dir=$(mktemp -d /run/limen-host.XXXXXX)
    while read -r kind text; do
        case "$kind" in
            validate | candidate | bootstrap | lds | cds | previous-lds | previous-cds) ;;
            *) die "envoy-release: stdin: unknown line '$kind'" ;;
        esac
        base64 -d <<<"$text" >"$release_dir/$kind.yaml" || die "envoy-release: stdin: the $kind file is not base64"
    done
    for kind in validate candidate bootstrap lds cds; do
        [ -s "$release_dir/$kind.yaml" ] || die "envoy-release: stdin holds no $kind file"
    done
    local staged=$release_dir

    validate_envoy "$staged/validate.yaml" || die "envoy-release: envoy --mode validate rejected the new config; nothing changed"

    envoy_run "$envoy_candidate" "$staged/candidate.yaml"
    problem=$(envoy_wait_ready "$envoy_candidate" "${opt[seconds]}") || {
        envoy_remove "$envoy_candidate"
        die "envoy-release: the new config's candidate did not start: $problem. Nothing changed: the door serves the previous config"
    }
    port=$(envoy_admin "$envoy_candidate" GET "/listeners?format=json" | awk '$1 ~ /^https_/ { print $2; exit }')
    [[ $port =~ ^[1-9][0-9]*$ ]] || {
        envoy_remove "$envoy_candidate"
        die "envoy-release: the candidate's admin names no bound https listener; nothing changed"
    }
    problem=$(envoy_gate "$port" "${opt[names]}" "${opt[seconds]}") || status=$?
    envoy_remove "$envoy_candidate"
    if [ "$status" -ne 0 ]; then
        [ "$status" -eq 2 ] || die "envoy-release: the gate could not run: $problem"
        die "envoy-release: the new config failed on its candidate (127.0.0.1:$port): $problem. Nothing changed: the door serves the previous config"
    fi
    echo "the new config's candidate passed the gate for ${opt[names]}"

    [ "$(docker inspect --format '{{.State.Running}}' "$container" 2>/dev/null)" = true ] && running=yes
    if [ "$mode" = in-place ]; then
        envoy_release_in_place "$staged" "$running"
        return
    fi

    if [ -n "$running" ]; then
        envoy_run "$envoy_standby" "$staged/bootstrap.yaml" "$staged/lds.yaml" "$staged/cds.yaml"
        problem=$(envoy_wait_ready "$envoy_standby" "${opt[seconds]}") || {
            envoy_remove "$envoy_standby"
            die "envoy-release: the standby on the public ports did not start: $problem. Nothing changed: the door serves the previous config"
        }
        echo "$envoy_standby serves the new config beside $container"
    fi

    # What the Docker provider's container mounts; judged above, so installed as it is.
    local old_admin_port
    old_admin_port=$(legacy_admin_port "$config")
    install_file "$config" 0644 root:root none <"$staged/bootstrap.yaml"
    envoy_install_dynamic "$dir" "$staged/lds.yaml" "$staged/cds.yaml" "${opt[order]}"
    [ -d "$envoy_state/admin/$container" ] || mkdir -m 0700 -- "$envoy_state/admin/$container"

    if [ -n "$running" ]; then
        local where=$container
        [ -S "$envoy_state/admin/$container/admin.sock" ] || where=$old_admin_port
        if [ -n "$where" ] && envoy_drain "$where" "${opt[drain-seconds]}"; then
            echo "$container drained; $envoy_standby takes the new connections"
        else
            echo "limen-host: envoy-release: $container's admin did not take the drain; the Docker provider stops it as it is" >&2
        fi
    fi
}

# envoy_release_in_place STAGE RUNNING: step 3 of envoy-release in place (see there).
envoy_release_in_place() {
    local staged=$1 running=$2 container=${opt[container]} dir=${opt[dynamic-dir]} before problem status=0 stats
    if [ -z "$running" ]; then
        envoy_install_dynamic "$dir" "$staged/lds.yaml" "$staged/cds.yaml" "${opt[order]}"
        echo "limen-host: envoy-release: $container is not running; its listeners and clusters are installed for its next start" >&2
        return 0
    fi
    stats=$(envoy_admin "$container" GET '/stats?filter=update_rejected$') || die "envoy-release: $container's admin did not answer; nothing changed"
    before=$(envoy_rejected "$stats")
    envoy_install_dynamic "$dir" "$staged/lds.yaml" "$staged/cds.yaml" "${opt[order]}"
    problem=$(envoy_applied "$container" "${opt[lds-version]}" "${opt[cds-version]}" "$before" "${opt[seconds]}") || status=1
    if [ "$status" -eq 0 ]; then
        problem=$(envoy_gate "${opt[https-port]}" "${opt[names]}" "${opt[seconds]}") || status=$?
        if [ "$status" -eq 0 ]; then
            echo "Envoy serves listeners ${opt[lds-version]} and clusters ${opt[cds-version]} in place, and the front door answers for ${opt[names]}"
            return 0
        fi
        [ "$status" -eq 2 ] || problem="the gate could not run: $problem"
    fi
    if [ ! -s "$staged/previous-lds.yaml" ] || [ ! -s "$staged/previous-cds.yaml" ] || [ -z "${opt[previous-lds-version]:-}" ]; then
        die "envoy-release: $problem. The stack's state holds no previous listeners and clusters to put back"
    fi
    stats=$(envoy_admin "$container" GET '/stats?filter=update_rejected$') || stats=""
    before=$(envoy_rejected "$stats")
    envoy_install_dynamic "$dir" "$staged/previous-lds.yaml" "$staged/previous-cds.yaml" "${opt[rollback-order]:-cds-first}"
    local again
    again=$(envoy_applied "$container" "${opt[previous-lds-version]}" "${opt[previous-cds-version]}" "$before" "${opt[seconds]}") ||
        die "envoy-release: $problem. Putting back the previous listeners and clusters failed too: $again"
    die "envoy-release: $problem. Rolled back: Envoy serves the previous listeners and clusters again (${opt[previous-lds-version]}, ${opt[previous-cds-version]}); the change is not applied"
}

# envoy-settle: after the Docker provider created the container (a release, or a repair after drift):
# it must be ready (its admin socket says LIVE) and the door must answer (envoy_gate); then the
# standby drains and goes, with the candidate's and standby's files. When the new container fails, the
# standby keeps serving the new config and the command says so: the next `up` tries again.
cmd_envoy_settle() {
    opts envoy-settle "container state-dir https-port names seconds drain-seconds" "$@"
    envoy_setup envoy-settle
    local container=${opt[container]} problem status=0 standby=""
    [ -n "$(docker ps --quiet --filter "name=^$envoy_standby\$")" ] && standby=yes
    problem=$(envoy_wait_ready "$container" "${opt[seconds]}") || {
        [ -z "$standby" ] || die "envoy-settle: $problem. $envoy_standby still serves the new config on the public ports; the next \`pulumi up\` tries again"
        die "envoy-settle: $problem"
    }
    # A container that is draining is the one the release drained, not a new one: retiring the standby
    # would shut the door.
    if ! envoy_admin "$container" GET /server_info | grep -qE '"state": ?"LIVE"'; then
        [ -z "$standby" ] || die "envoy-settle: $container is not live (it is the drained one: the Docker provider did not replace it); $envoy_standby still serves the new config on the public ports"
        die "envoy-settle: $container is not live"
    fi
    problem=$(envoy_gate "${opt[https-port]}" "${opt[names]}" "${opt[seconds]}") || status=$?
    if [ "$status" -ne 0 ]; then
        [ "$status" -eq 2 ] || die "envoy-settle: the gate could not run: $problem"
        die "envoy-settle: $problem"
    fi
    if [ -n "$standby" ]; then
        envoy_drain "$envoy_standby" "${opt[drain-seconds]}" || echo "limen-host: envoy-settle: $envoy_standby's admin did not take the drain; stopped as it is" >&2
        docker stop --time 10 "$envoy_standby" >/dev/null 2>&1 || true
    fi
    envoy_remove "$envoy_standby"
    envoy_remove "$envoy_candidate"
    # What versions before 2.0 kept: the config that last passed the gate and one it sent back.
    rm -f -- "$envoy_state/envoy-good.yaml" "$envoy_state/envoy-good.yaml.door" "$envoy_state/envoy-pending.yaml"
    echo "the front door answers for ${opt[names]} through $container"
}

# envoy-forget: with Envoy removed, the release's leftovers go (candidate, standby, admin directories).
cmd_envoy_forget() {
    opts envoy-forget "state-dir" "$@"
    need envoy-forget state-dir
    envoy_state=${opt[state-dir]}
    if [ -e "$envoy_state" ]; then
        root_dir "$envoy_state"
        envoy_remove "$envoy_candidate"
        envoy_remove "$envoy_standby"
        rm -rf -- "$envoy_state/admin"
        rm -f -- "$envoy_state/envoy-good.yaml" "$envoy_state/envoy-good.yaml.door" "$envoy_state/envoy-pending.yaml"
    fi
    echo "the front door release's files removed"
}

# --- certificates: tls-placeholder, tls-publish, acme-certificate, acme-remove ---------------------
# Certificates (limen:tls.source "acme"). certbot keeps its lineage in --lineage-dir
# (/etc/letsencrypt/live/NAME); Envoy serves a checked copy published under --publish-dir as
# DIR/current -> DIR/VERSION/{fullchain,privkey}.pem. The symlink is swapped with rename(2), which
# Envoy's watched_directory sees as one move: a reader finds the old pair or the new one, never a mix.

# check_pair CHAIN KEY DOMAINS: the pair Envoy would serve parses, has not expired, its key belongs to
# its certificate, each intermediate in the chain signed the certificate before it, and its names
# cover every domain (comma-separated).
check_pair() {
    local chain=$1 key=$2 domains=$3 domain work
    openssl x509 -in "$chain" -noout 2>/dev/null || { echo "$chain holds no PEM certificate"; return 1; }
    openssl pkey -in "$key" -noout 2>/dev/null || { echo "$key holds no private key"; return 1; }
    openssl x509 -in "$chain" -noout -checkend 0 >/dev/null || { echo "the certificate in $chain has expired"; return 1; }
    if [ "$(openssl x509 -in "$chain" -noout -pubkey | sha256sum)" != "$(openssl pkey -in "$key" -pubout | sha256sum)" ]; then
        echo "the key in $key does not belong to the certificate in $chain"
        return 1
    fi
    for domain in ${domains//,/ }; do
        openssl x509 -in "$chain" -noout -checkhost "$domain" | grep -q 'does match' ||
            { echo "the certificate in $chain does not cover $domain"; return 1; }
    done
    work=$(mktemp -d)
    # One file per certificate: cert-1.pem is the leaf, cert-2.pem what signed it, and so on.
    awk -v dir="$work" '/-----BEGIN CERTIFICATE-----/ { n++ } n { print > (dir "/cert-" n ".pem") }' "$chain"
    local n=1
    while [ -f "$work/cert-$((n + 1)).pem" ]; do
        if ! openssl verify -partial_chain -CAfile "$work/cert-$((n + 1)).pem" "$work/cert-$n.pem" >/dev/null 2>&1; then
            rm -rf -- "$work"
            echo "certificate $((n + 1)) in $chain did not sign certificate $n: the chain is out of order or incomplete"
            return 1
        fi
        n=$((n + 1))
    done
    rm -rf -- "$work"
}

# publish_pair CHAIN KEY DIR: copies the pair into a new version directory, then swaps DIR/current to it.
publish_pair() {
    local chain=$1 key=$2 dir=$3 version old
    root_dir --create 0755 "$dir"
    if [ -f "$dir/current/fullchain.pem" ] && cmp -s "$chain" "$dir/current/fullchain.pem" && cmp -s "$key" "$dir/current/privkey.pem"; then
        echo "unchanged $dir/current"
        return 0
    fi
    version=$(date -u +%Y%m%dT%H%M%S.%NZ)
    install -d -m 0755 "$dir/$version"
    install -m 0644 "$chain" "$dir/$version/fullchain.pem"
    install -m 0600 "$key" "$dir/$version/privkey.pem"
    sync "$dir/$version/fullchain.pem" "$dir/$version/privkey.pem"
    old=$(readlink "$dir/current" 2>/dev/null || true)
    ln -sfn "$version" "$dir/.current.new"
    mv -T -f "$dir/.current.new" "$dir/current"
    # The pair before stays one renewal longer (a connection may still be handshaking with it); older ones go.
    for entry in "$dir"/*/; do
        [ -L "${entry%/}" ] && continue
        entry=$(basename "$entry")
        [ "$entry" = "$version" ] || [ "$entry" = "$old" ] || rm -rf -- "${dir:?}/$entry"
    done
    echo "published $dir/current -> $version"
}

# tls-publish: certbot's renewal hook and acme-certificate's last step. A pair that fails check_pair is
# refused and the one served stays: the hook's failure is what certbot reports (journal, exit status).
cmd_tls_publish() {
    opts tls-publish "lineage-dir publish-dir domains" "$@"
    need tls-publish lineage-dir publish-dir domains
    local lineage=${opt[lineage-dir]} problem
    # certbot's lineage links into its archive: read only where nobody but root could have placed them.
    root_dir "$lineage"
    if ! problem=$(check_pair "$lineage/fullchain.pem" "$lineage/privkey.pem" "${opt[domains]}"); then
        die "tls-publish: refused $lineage: $problem; ${opt[publish-dir]}/current is unchanged"
    fi
    publish_pair "$lineage/fullchain.pem" "$lineage/privkey.pem" "${opt[publish-dir]}"
}

# tls-placeholder: a self-signed pair for a certificate not issued yet, so that Envoy starts with its
# SDS secrets and forwards the first HTTP-01 challenge; the issued pair replaces it. Never replaces a pair.
cmd_tls_placeholder() {
    opts tls-placeholder "publish-dir domains" "$@"
    need tls-placeholder publish-dir domains
    local dir=${opt[publish-dir]} work names="" domain
    root_dir --create 0755 "$dir"
    if [ -e "$dir/current" ]; then
        echo "kept $dir/current"
        return 0
    fi
    for domain in ${opt[domains]//,/ }; do names="${names:+$names,}DNS:$domain"; done
    work=$(mktemp -d)
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 7 \
        -subj "/CN=${opt[domains]%%,*}" -addext "subjectAltName=$names" \
        -keyout "$work/privkey.pem" -out "$work/fullchain.pem" 2>/dev/null ||
        { rm -rf -- "$work"; die "tls-placeholder: openssl could not make a placeholder certificate"; }
    publish_pair "$work/fullchain.pem" "$work/privkey.pem" "$dir"
    rm -rf -- "$work"
}

# The names a certificate covers (DNS names of its subjectAltName), sorted, comma-separated.
certificate_names() {
    openssl x509 -in "$1" -noout -ext subjectAltName 2>/dev/null | tr ',' '\n' | sed -n 's/^ *DNS://p' | sort | paste -sd, -
}

# renewal_setting FILE KEY: a value of certbot's renewal config; empty when the file or the key is missing.
renewal_setting() {
    sed -n "s/^$2 *= *//p" "$1" 2>/dev/null || true
}

# run_certbot ARGS...: certbot refuses to run beside another certbot, which the engine's parallel
# certificate steps and certbot.timer would both cause. Ours take turns on a lock of their own; one that
# meets the timer's certbot waits for it and tries again (a minute at most). The lock lives in a
# root-only directory: in the world-writable /run/lock another user could hold it, or put a link there
# that flock's O_CREAT would follow. Each certbot run has the certbot deadline (a CA that stalls, a
# challenge that is never fetched), and the wait for the lock is one more such run at most.
run_certbot() {
    local attempt out seconds status
    seconds=$(deadline certbot)
    root_dir --create 0755 /run/limen
    for attempt in $(seq 1 10); do
        status=0
        out=$(flock -w "$seconds" /run/limen/certbot.lock timeout --foreground --kill-after=10 "$seconds" certbot "$@" 2>&1) || status=$?
        printf '%s\n' "$out" >&2
        [ "$status" -eq 0 ] && return 0
        case "$status:$out" in
            124:* | 137:*) echo "limen-host: certbot did not finish within $seconds s (certbot $1); stopped" >&2; return 1 ;;
            *"Another instance of Certbot is already running"*) echo "certbot is busy (attempt $attempt); waiting" >&2; sleep 6 ;;
            1:) echo "limen-host: another certbot held /run/limen/certbot.lock for more than $seconds s" >&2; return 1 ;;
            *) return 1 ;;
        esac
    done
    return 1
}

# privileged_port PORT: only root can bind PORT on this host: below 1024 and below the host's
# net.ipv4.ip_unprivileged_port_start (which an admin may have lowered). Whoever holds the ACME
# responder's port answers HTTP-01 for every domain the door serves: on a port the app user could
# bind, the app user could get publicly trusted certificates for them.
privileged_port() {
    local port=$1 start
    [[ $port =~ ^[1-9][0-9]*$ ]] || die "acme-certificate: --responder-port must be a port number, got '$port'"
    start=$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start 2>/dev/null || echo 1024)
    if [ "$port" -ge 1024 ] || [ "$port" -ge "$start" ]; then
        local fix="choose limen:tls.responderPort below 1024"
        [ "$port" -lt 1024 ] && fix="set net.ipv4.ip_unprivileged_port_start above $port again (Linux's default is 1024)"
        die "acme-certificate: the ACME responder's port $port can be bound by any user on this host (net.ipv4.ip_unprivileged_port_start = $start): another user could answer the HTTP-01 challenges for every domain; $fix"
    fi
}

# acme-certificate: makes sure certbot holds a certificate for exactly --domains from --server, renews
# it from its timer, and that the pair Envoy serves is that certificate. certbot runs only when the
# lineage is missing, covers other names or comes from another server.
cmd_acme_certificate() {
    opts acme-certificate "name domains email server responder-address responder-port lineage-dir publish-dir hook" "$@"
    need acme-certificate name domains email server responder-address responder-port lineage-dir publish-dir hook
    need_deadlines certbot
    privileged_port "${opt[responder-port]}"
    local name=${opt[name]} lineage=${opt[lineage-dir]} wanted have server renewal responder
    local email_record="${opt[publish-dir]}/.acme-email"
    # certbot's directory: what root reads there (the lineage, its renewal settings) only root can change.
    root_dir --create 0755 "$(dirname "$(dirname "$lineage")")"
    command -v certbot >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q certbot >&2 ||
        die "acme-certificate: certbot is missing and apt-get could not install it (Debian's certbot package)"
    # Renewal is certbot's own timer; the deploy hook (--hook, installed by the stack) publishes each renewal.
    systemctl enable --now certbot.timer >/dev/null 2>&1 || die "acme-certificate: could not enable certbot.timer"
    [ -x "${opt[hook]}" ] || die "acme-certificate: the renewal hook ${opt[hook]} is not installed"
    renewal="$(dirname "$(dirname "$lineage")")/renewal/$name.conf"
    wanted=$(tr ',' '\n' <<<"${opt[domains]}" | sort | paste -sd, -)
    have=""
    [ -f "$lineage/cert.pem" ] && have=$(certificate_names "$lineage/cert.pem")
    server=$(renewal_setting "$renewal" server)
    # How certbot will answer the challenge at renewal: it must be the responder Envoy forwards to.
    responder="$(renewal_setting "$renewal" authenticator) $(renewal_setting "$renewal" http01_address):$(renewal_setting "$renewal" http01_port)"
    if [ "$have" != "$wanted" ] || [ "$server" != "${opt[server]}" ] || [ "$responder" != "standalone ${opt[responder-address]}:${opt[responder-port]}" ]; then
        local args=(certonly --non-interactive --agree-tos --no-eff-email --email "${opt[email]}" --server "${opt[server]}"
            --standalone --http-01-address "${opt[responder-address]}" --http-01-port "${opt[responder-port]}"
            --cert-name "$name" --domains "${opt[domains]}" --preferred-challenges http)
        # Same names from another server (staging to production) or renewed another way (a lineage made
        # by hand with webroot or port 80): certbot keeps a valid certificate and its settings unless forced.
        [ -n "$have" ] && [ "$have" = "$wanted" ] && args+=(--force-renewal)
        run_certbot "${args[@]}" ||
            die "acme-certificate: certbot could not obtain the certificate $name for ${opt[domains]} from ${opt[server]} (see /var/log/letsencrypt/letsencrypt.log); the pair served is unchanged"
    elif [ "$(cat "$email_record" 2>/dev/null)" != "${opt[email]}" ]; then
        # certbot keeps no copy of the account's contact (regr.json's body is empty), so the stack
        # records the e-mail it registered; another one (or a lineage made by hand) updates the account.
        run_certbot update_account --non-interactive --no-eff-email --email "${opt[email]}" --server "${opt[server]}" ||
            die "acme-certificate: certbot could not change the ACME account's e-mail to ${opt[email]} (see /var/log/letsencrypt/letsencrypt.log)"
    fi
    root_dir --create 0755 "${opt[publish-dir]}"
    printf '%s\n' "${opt[email]}" >"$email_record"
    cmd_tls_publish --lineage-dir "$lineage" --publish-dir "${opt[publish-dir]}" --domains "${opt[domains]}"
}

# acme-remove: the stack no longer manages this certificate: certbot forgets it (no more renewals) and
# the published pairs go. Envoy's config stops naming them in the same deployment.
cmd_acme_remove() {
    opts acme-remove "name publish-dir" "$@"
    need acme-remove name publish-dir
    if command -v certbot >/dev/null && certbot certificates --cert-name "${opt[name]}" 2>/dev/null | grep -q "Certificate Name: ${opt[name]}\$"; then
        run_certbot delete --non-interactive --cert-name "${opt[name]}"
    fi
    case "${opt[publish-dir]}" in
        /etc/limen/*) root_dir "$(dirname "${opt[publish-dir]}")" && rm -rf -- "${opt[publish-dir]}" ;;
        *) die "acme-remove: refusing to remove ${opt[publish-dir]}: not under /etc/limen" ;;
    esac
    echo "removed certificate ${opt[name]}"
}

# --- the name Envoy's container runs under: container-holder, container-claim ----------------------
# The Docker provider finds its container by id. When a container started by hand holds the name
# (the stack's removed, and another image run in its place), the provider's create fails with
# Docker's "name already in use" and the hand-made one keeps the front door. The stack claims the
# name first: a holder whose image was not pulled from the planned image's repository is not the
# stack's, and goes.

container_name_arg() {
    [[ $1 =~ ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$ ]] || die "$1: not a container name"
}

# image_ref_arg REF: REPOSITORY[:TAG]@sha256:DIGEST, as the plan pins images.
image_ref_arg() {
    [[ $1 =~ ^[a-z0-9._/:-]+@sha256:[0-9a-f]{64}$ ]] || die "$1: not an image pinned by digest"
}

# container_holder NAME REF: what holds container name NAME, judged against the planned image REF:
#   none                        no container has the name
#   planned ID IMAGE            the planned image (pulled as REF)
#   stack ID IMAGE              another image of REF's repository (the stack's, from an earlier plan)
#   foreign ID IMAGE            anything else (a container of someone else's)
container_holder() {
    local name=$1 ref=$2 repository id image digests
    repository=${ref%@*}
    # A tag after the last "/" is not part of the repository (a registry's ":port" before it is).
    [[ ${repository##*/} == *:* ]] && repository=${repository%:*}
    # `docker ps` fails when the daemon does not answer; an empty answer is a free name.
    id=$(docker ps --all --no-trunc --quiet --filter "name=^/${name}\$") || die "docker did not answer: cannot tell what holds container name $name"
    if [ -z "$id" ]; then
        echo none
        return
    fi
    image=$(docker container inspect --format '{{.Image}}' "$id") || die "cannot inspect container $id ($name)"
    digests=$(docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$image" 2>/dev/null || true)
    # Docker lists Docker Hub's images without "docker.io/".
    repository=${repository#docker.io/}
    if grep -qxF "$repository@${ref#*@}" <<<"$digests"; then
        echo "planned $id $image"
    elif grep -qE "^${repository//./\\.}@sha256:[0-9a-f]{64}\$" <<<"$digests"; then
        echo "stack $id $image"
    else
        echo "foreign $id $image"
    fi
}

# container-holder --name NAME --image REF: what holds the name (container_holder).
cmd_container_holder() {
    opts container-holder "name image" "$@"
    need container-holder name image
    container_name_arg "${opt[name]}"
    image_ref_arg "${opt[image]}"
    container_holder "${opt[name]}" "${opt[image]}"
}

# container-claim --name NAME --image REF: a foreign holder of the name is removed, so the Docker
# provider can create the planned container; the stack's own (any image of REF's repository,
# running or not) stays for the provider to update or replace. Prints what it found, and what it did.
cmd_container_claim() {
    opts container-claim "name image" "$@"
    need container-claim name image
    container_name_arg "${opt[name]}"
    image_ref_arg "${opt[image]}"
    local holder kind id image
    holder=$(container_holder "${opt[name]}" "${opt[image]}")
    read -r kind id image <<<"$holder"
    if [ "$kind" = foreign ]; then
        docker rm --force "$id" >/dev/null || die "cannot remove container ${opt[name]} ($id, image $image)"
        echo "removed container ${opt[name]} ($id), which ran image $image, not one of ${opt[image]%@*}"
    else
        echo "$holder"
    fi
}

# --- the entry point: each subcommand is one cmd_* function above ----------------------------------
main() {
    # --deadlines NAME=SECONDS,...: the deadlines of the waits below (hostio/deadlines.ts, toolDeadlines).
    if [ "${1:-}" = --deadlines ]; then
        [[ ${2:-} =~ ^[a-z0-9-]+=[1-9][0-9]*(,[a-z0-9-]+=[1-9][0-9]*)*$ ]] || die "--deadlines must be NAME=SECONDS,..., got '${2:-}'"
        local spec
        IFS=, read -r -a spec <<<"$2"
        for spec in "${spec[@]}"; do deadlines[${spec%%=*}]=${spec#*=}; done
        shift 2
    fi
    local sub=${1:-}
    shift || true
    # Root runs whatever it finds on PATH (nft, node, pm2, certbot, docker...): every directory there
    # must be one nobody but root can change, or the app user could put its own `nft` first; and each
    # command it runs must resolve to a file only root can change (not a link into the app user's home).
    local path_dirs
    IFS=: read -r -a path_dirs <<<"$PATH"
    limen_file path-dirs "${path_dirs[@]}" --commands "${host_commands[@]}" || exit 1
    case "$sub" in
        check-ready) cmd_check_ready "$@" ;;
        install-file) cmd_install_file "$@" ;;
        remove-file) cmd_remove_file "$@" ;;
        apply-firewall) cmd_apply_firewall "$@" ;;
        confirm-firewall) cmd_confirm_firewall "$@" ;;
        revert-firewall) cmd_revert_firewall "$@" ;;
        remove-firewall) cmd_remove_firewall "$@" ;;
        pm2-enable) cmd_pm2_enable "$@" ;;
        pm2-apply) cmd_pm2_apply "$@" ;;
        envoy-release) cmd_envoy_release "$@" ;;
        envoy-settle) cmd_envoy_settle "$@" ;;
        envoy-forget) cmd_envoy_forget "$@" ;;
        pm2-mark-loaded) cmd_pm2_mark_loaded "$@" ;;
        pm2-save) cmd_pm2_save "$@" ;;
        pm2-remove) cmd_pm2_remove "$@" ;;
        acme-certificate) cmd_acme_certificate "$@" ;;
        acme-remove) cmd_acme_remove "$@" ;;
        tls-placeholder) cmd_tls_placeholder "$@" ;;
        tls-publish) cmd_tls_publish "$@" ;;
        container-holder) cmd_container_holder "$@" ;;
        container-claim) cmd_container_claim "$@" ;;
        *) die "usage: limen-host check-ready|install-file|remove-file|apply-firewall|confirm-firewall|revert-firewall|remove-firewall|pm2-enable|pm2-apply|pm2-mark-loaded|pm2-save|pm2-remove|envoy-release|envoy-settle|envoy-forget|acme-certificate|acme-remove|tls-placeholder|tls-publish|container-holder|container-claim" ;;
    esac
}

main "$@"
