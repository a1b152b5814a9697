#!/usr/bin/perl
# Debian's Net::SMPP plays the USSD centre against our gateway: it accepts one bind, opens a
# dialogue (#122#), answers each screen with the next reply given on the command line, and prints
# one line per PDU it reads, so the test sees the gateway through an SMPP implementation not ours.
# Usage: netsmpp_centre.pl PORT MSISDN REPLY...   (it listens on 127.0.0.1:PORT)
use strict; use warnings;
use Net::SMPP;
$| = 1;
my ($port, $msisdn, @replies) = @ARGV;
my $listen = Net::SMPP->new_listen('127.0.0.1', port => $port, smpp_version => 0x34) or die "listen: $!";
print "listening\n";
my $c = $listen->accept or die "accept: $!";
my $bind = $c->read_pdu() or die "no bind";
die "not a bind_transceiver" unless $bind->{cmd} == Net::SMPP::CMD_bind_transceiver;
print "bind system_id=$bind->{system_id} password=$bind->{password}\n";
$c->bind_transceiver_resp(seq => $bind->{seq}, system_id => 'NETSMPP', sc_interface_version => pack('C', 0x34));
my ($number, $sequence) = (7, 0);
sub unit {
    my ($op, $text) = @_;
    $c->deliver_sm(async => 1, service_type => 'USSD', source_addr_ton => 1, source_addr_npi => 1,
        source_addr => $msisdn, destination_addr => '122', data_coding => 0, short_message => $text,
        ussd_service_op => pack('C', $op), its_session_info => pack('n', ($number << 8) | ($sequence << 1)));
}
unit(1, '#122#');
while (my $p = $c->read_pdu()) {
    if ($p->{cmd} == Net::SMPP::CMD_submit_sm) {
        my $its = unpack('n', $p->{its_session_info});
        my $op = unpack('C', $p->{ussd_service_op});
        (my $text = $p->{short_message}) =~ s/\n/|/g;
        printf "submit_sm op=%d session=%d sequence=%d end=%d coding=%d to=%s text=%s\n",
            $op, $its >> 8, ($its & 0xFF) >> 1, $its & 1, $p->{data_coding}, $p->{destination_addr}, $text;
        $c->submit_sm_resp(seq => $p->{seq}, message_id => "m$p->{seq}");
        next if $its & 1;  # the last screen: wait for the gateway to unbind
        my $reply = shift @replies;
        last unless defined $reply;
        $sequence = (($its & 0xFF) >> 1) + 1;
        unit(18, $reply);
    } elsif ($p->{cmd} == Net::SMPP::CMD_deliver_sm_resp) {
        printf "deliver_sm_resp status=%d\n", $p->{status};
    } elsif ($p->{cmd} == Net::SMPP::CMD_enquire_link) {
        $c->enquire_link_resp(seq => $p->{seq});
    } elsif ($p->{cmd} == Net::SMPP::CMD_unbind) {
        $c->unbind_resp(seq => $p->{seq});
        print "unbound\n";
        last;
    }
}
