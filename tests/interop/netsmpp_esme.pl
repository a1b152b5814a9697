#!/usr/bin/perl
# Debian's Net::SMPP plays the ESME against our fake USSD centre: it binds as a transceiver and
# answers each USSD unit with a screen (USSR request the first time, PSSR response the second),
# echoing its_session_info as SMPP 3.4 USSD centres expect, and prints one line per PDU it reads.
# Usage: netsmpp_esme.pl PORT   (the centre listens on 127.0.0.1:PORT)
use strict; use warnings;
use Net::SMPP;
$| = 1;
my ($port) = @ARGV;
my $c = Net::SMPP->new_transceiver('127.0.0.1', port => $port, system_id => 'perl', password => 'pw',
                                   smpp_version => 0x34, async => 1) or die "bind: $!";
my $resp = $c->read_pdu() or die "no bind_transceiver_resp";
printf "bound status=%d\n", $resp->{status};
my $units = 0;
while (my $p = $c->read_pdu()) {
    if ($p->{cmd} == Net::SMPP::CMD_deliver_sm) {
        $c->deliver_sm_resp(seq => $p->{seq}, message_id => '');
        my $op = unpack('C', $p->{ussd_service_op});
        my $its = unpack('n', $p->{its_session_info});
        printf "deliver_sm op=%d session=%d sequence=%d end=%d text=%s\n",
            $op, $its >> 8, ($its & 0xFF) >> 1, $its & 1, $p->{short_message};
        next if $its & 1;  # an abort: no screen
        $units++;
        my $end = $units >= 2 ? 1 : 0;
        my $next = (($its & 0xFF) >> 1) + 1;
        $c->submit_sm(async => 1, service_type => 'USSD', source_addr_ton => 0, source_addr_npi => 0,
            source_addr => $p->{destination_addr}, dest_addr_ton => $p->{source_addr_ton},
            dest_addr_npi => $p->{source_addr_npi}, destination_addr => $p->{source_addr}, data_coding => 0,
            short_message => $end ? 'Merci, au revoir' : "Menu Perl\n1. Suite",
            ussd_service_op => pack('C', $end ? 17 : 2),
            its_session_info => pack('n', (($its >> 8) << 8) | ($next << 1) | $end));
    } elsif ($p->{cmd} == Net::SMPP::CMD_submit_sm_resp) {
        printf "submit_sm_resp status=%d\n", $p->{status};
    } elsif ($p->{cmd} == Net::SMPP::CMD_enquire_link) {
        $c->enquire_link_resp(seq => $p->{seq});
    } elsif ($p->{cmd} == Net::SMPP::CMD_unbind) {
        $c->unbind_resp(seq => $p->{seq});
        print "unbound\n";
        last;
    }
}
