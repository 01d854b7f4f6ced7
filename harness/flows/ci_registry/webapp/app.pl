#!/usr/bin/perl
# webapp: the page the CI pipeline builds, ships and deploys. It answers every
# request on :8080 with its version (WEBAPP_VERSION, set when it was built).
# Perl's core modules only: perl-base is on every Debian and Ubuntu server.
use strict;
use warnings;
use IO::Socket::INET;

# PID 1 of its container: without a handler, `docker stop` waits 10 s and kills.
$SIG{TERM} = $SIG{INT} = sub { exit 0 };
my $version = $ENV{WEBAPP_VERSION} // 'unknown';
my $server = IO::Socket::INET->new(LocalPort => 8080, Listen => 16, ReuseAddr => 1)
    or die "webapp: cannot listen on :8080: $!\n";
$| = 1;
print "webapp $version listening on :8080\n";
while (my $client = $server->accept) {
    while (my $line = <$client>) { last if $line =~ /^\r?\n$/ }
    my $body = "webapp $version\n";
    print $client "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " . length($body)
        . "\r\nConnection: close\r\n\r\n$body";
    close $client;
}
